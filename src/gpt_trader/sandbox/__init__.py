"""The sandbox exchange: a local, Coinbase-compatible REST and WebSocket server over a replayed market.

`server` assembles and runs it (`gpt-trader sandbox serve`); `market` (with `tape` and `ticks`) turns
candles into a live market; `rest`, `ws` and `messages` speak Coinbase's market API; `orders`, `exchange`
and `keys` its authenticated one; `faults`, `ratelimit` and `tls` complete the impersonation. Every
shape follows the Coinbase facts page on its own: nothing here imports the client in `coinbase/`.
"""
