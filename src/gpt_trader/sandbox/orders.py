"""The sandbox's authenticated trading endpoints (section 5 of the Coinbase facts), over `app.state.exchange`.

Accounts, create / preview / cancel orders, historical orders and fills, and the fee summary. Every route
needs a REST JWT for its method, host and path (`rest.require_key`; a plain-text 401 `Unauthorized`
otherwise). A refused order is not an HTTP error: `POST /orders` answers 200 with `success: false`.

A POST body must be `Content-Type: application/json`, at most 64 KiB, and valid UTF-8 JSON (no lone
surrogates such as `\ud800`, which could be stored but never sent back): anything else is a 400 before
the exchange sees it, so a request that fails stores nothing.

Lists page by an opaque `cursor`: where the next page starts in the list's fixed order (newest first for
orders and fills), so a page boundary stays put while newer orders arrive or older ones change status.
GET requests may carry a JSON body (`{}` from the official SDK): it is ignored.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request

from gpt_trader.sandbox.exchange import (
    Exchange,
    OrderStatus,
    account_payload,
    fill_payload,
    order_payload,
)
from gpt_trader.sandbox.rest import API_PREFIX, ApiError, require_key

router = APIRouter(prefix=API_PREFIX)

KeyName = Annotated[str, Depends(require_key)]
Strings = Annotated[list[str] | None, Query()]

MAX_ACCOUNTS_PAGE = 250
DEFAULT_ACCOUNTS_PAGE = 49
MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_CANCEL_BATCH = 100
MAX_BODY_BYTES = 64 * 1024
ORDER_STATUSES = (
    *(status.value for status in OrderStatus),
    "QUEUED",
    "CANCEL_QUEUED",
    "EDIT_QUEUED",
    "UNKNOWN_ORDER_STATUS",
)
"""Every status Coinbase documents; the sandbox's orders never reach the last four, but a filter may name them."""
Item = TypeVar("Item")


# -- accounts --------------------------------------------------------------------------------------


@router.get("/accounts")
async def list_accounts(
    request: Request, key_name: KeyName, limit: int | None = None, cursor: str | None = None
) -> dict[str, Any]:
    accounts = _exchange(request).accounts(key_name)
    page, next_cursor = _page(accounts, cursor, limit, DEFAULT_ACCOUNTS_PAGE, MAX_ACCOUNTS_PAGE, lambda a: a.sequence)
    return {
        "accounts": [account_payload(account) for account in page],
        "has_next": bool(next_cursor),
        "cursor": next_cursor,
        "size": len(page),
    }


@router.get("/accounts/{account_uuid}")
async def get_account(request: Request, key_name: KeyName, account_uuid: str) -> dict[str, Any]:
    account = _exchange(request).account(key_name, account_uuid)
    if account is None:
        raise ApiError(404, "NOT_FOUND", f"account {account_uuid} not found")
    return {"account": account_payload(account)}


# -- orders ----------------------------------------------------------------------------------------


@router.post("/orders")
async def create_order(request: Request, key_name: KeyName) -> dict[str, Any]:
    body = await _json_object(request)
    client_order_id = body.get("client_order_id")
    if client_order_id is not None and not isinstance(client_order_id, str):
        kind = type(client_order_id).__name__
        raise ApiError(400, "INVALID_ARGUMENT", f"client_order_id must be a string, not {kind}")
    return _exchange(request).create_order(key_name, body)


@router.post("/orders/preview")
async def preview_order(request: Request, key_name: KeyName) -> dict[str, Any]:
    return _exchange(request).preview_order(key_name, await _json_object(request))


@router.post("/orders/batch_cancel")
async def cancel_orders(request: Request, key_name: KeyName) -> dict[str, Any]:
    order_ids = (await _json_object(request)).get("order_ids")
    if not isinstance(order_ids, list) or not all(isinstance(i, str) for i in order_ids):
        raise ApiError(400, "INVALID_ARGUMENT", 'the body must be {"order_ids": ["<order id>", ...]}')
    if len(order_ids) > MAX_CANCEL_BATCH:
        raise ApiError(400, "INVALID_ARGUMENT", f"at most {MAX_CANCEL_BATCH} order_ids per request")
    return {"results": _exchange(request).cancel_orders(key_name, order_ids)}


@router.get("/orders/historical/batch")
async def list_orders(
    request: Request,
    key_name: KeyName,
    order_ids: Strings = None,
    product_id: str | None = None,
    product_ids: Strings = None,
    order_status: Strings = None,
    order_types: Strings = None,
    time_in_forces: Strings = None,
    order_side: str | None = None,
    product_type: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    unknown = set(order_status or ()) - set(ORDER_STATUSES)
    if unknown:
        raise ApiError(400, "INVALID_ARGUMENT", f"unknown order_status {sorted(unknown)}; use {list(ORDER_STATUSES)}")
    orders = _exchange(request).list_orders(
        key_name,
        order_ids=set(order_ids or ()),
        product_ids=_products(product_id, product_ids),
        statuses=set(order_status or ()),
        side=order_side,
        order_types=set(order_types or ()),
        time_in_forces=set(time_in_forces or ()),
        start=_time("start_date", start_date),
        end=_time("end_date", end_date),
    )
    if product_type is not None:
        orders = [order for order in orders if order.product.product_type == product_type]
    page, next_cursor = _page(orders, cursor, limit, DEFAULT_PAGE, MAX_PAGE, lambda order: -order.sequence)
    return {
        "orders": [order_payload(order) for order in page],
        "sequence": "0",
        "has_next": bool(next_cursor),
        "cursor": next_cursor,
    }


@router.get("/orders/historical/fills")
async def list_fills(
    request: Request,
    key_name: KeyName,
    order_ids: Strings = None,
    trade_ids: Strings = None,
    product_id: str | None = None,
    product_ids: Strings = None,
    start_sequence_timestamp: str | None = None,
    end_sequence_timestamp: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    fills = _exchange(request).list_fills(
        key_name,
        order_ids=set(order_ids or ()),
        trade_ids=set(trade_ids or ()),
        product_ids=_products(product_id, product_ids),
        start=_time("start_sequence_timestamp", start_sequence_timestamp),
        end=_time("end_sequence_timestamp", end_sequence_timestamp),
    )
    page, next_cursor = _page(fills, cursor, limit, DEFAULT_PAGE, MAX_PAGE, lambda fill: -fill.sequence)
    return {"fills": [fill_payload(fill) for fill in page], "cursor": next_cursor}


@router.get("/orders/historical/{order_id}")
async def get_order(request: Request, key_name: KeyName, order_id: str) -> dict[str, Any]:
    order = _exchange(request).get_order(key_name, order_id)
    if order is None:
        raise ApiError(404, "NOT_FOUND", f"order {order_id} not found")
    return {"order": order_payload(order)}


@router.get("/transaction_summary")
async def transaction_summary(request: Request, key_name: KeyName) -> dict[str, Any]:
    return _exchange(request).transaction_summary(key_name)


# -- helpers ---------------------------------------------------------------------------------------


def _products(product_id: str | None, product_ids: list[str] | None) -> set[str]:
    """The products a list is filtered to: the older singular `product_id` and the `product_ids` together."""
    return set(product_ids or ()) | ({product_id} if product_id else set())


def _exchange(request: Request) -> Exchange:
    exchange: Exchange = request.app.state.exchange
    return exchange


async def _json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body, or a 400 naming what is wrong with it."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise ApiError(
            400, "INVALID_ARGUMENT", f"Content-Type must be application/json, not {media_type or 'missing'}"
        )
    raw = await _bounded_body(request)
    try:
        body = json.loads(raw)
        # What cannot be written back as UTF-8 must not be stored: it would break every later answer.
        json.dumps(body, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ApiError(
            400,
            "INVALID_ARGUMENT",
            "the request body holds text that is not valid Unicode (a lone surrogate such as \\ud800)",
        ) from None
    except (ValueError, RecursionError):
        raise ApiError(400, "INVALID_ARGUMENT", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_ARGUMENT", "the request body must be a JSON object")
    return body


async def _bounded_body(request: Request) -> bytes:
    too_large = ApiError(400, "INVALID_ARGUMENT", f"the request body is larger than {MAX_BODY_BYTES} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _page(
    items: Sequence[Item],
    cursor: str | None,
    limit: int | None,
    default: int,
    maximum: int,
    position: Callable[[Item], int],
) -> tuple[Sequence[Item], str]:
    """One page of `items` (listed by increasing `position`) from `cursor`, and the next page's cursor
    ("" after the last page). A cursor is the position of the next page's first item."""
    if limit is not None and not 1 <= limit <= maximum:
        raise ApiError(400, "INVALID_ARGUMENT", f"limit must be between 1 and {maximum}, not {limit}")
    start = 0
    if cursor:
        try:
            after = int(cursor)
        except ValueError:
            raise ApiError(400, "INVALID_ARGUMENT", f"cursor {cursor!r} is not one this list handed out") from None
        start = next((i for i, item in enumerate(items) if position(item) >= after), len(items))
    end = start + (limit or default)
    return items[start:end], str(position(items[end])) if end < len(items) else ""


def _time(name: str, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "INVALID_ARGUMENT", f"{name} {text!r} is not an RFC 3339 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
