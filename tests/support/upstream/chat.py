"""``POST /v1/chat/completions``: buffered and streamed answers, with the scripted faults."""

from __future__ import annotations

import json
import time

from .behaviours import (
    _OK,
    Behaviour,
    Deltas,
    MalformedChunk,
    Ok,
    ResetMidStream,
    SlowFirstByte,
    Spend,
    StallMidStream,
    Status,
)
from .connection import _ClientGone, _Conn
from .wire import (
    _CHUNK_TAIL,
    _CHUNKED_END,
    _DONE_EVENT,
    _MALFORMED_EVENT,
    _STREAM_HEAD,
    _TOKEN_DELTAS,
    _USAGE_NULL,
    _count_prompt_tokens,
    _dumps,
    _error_body,
    _frame,
    prompt_bytes,
    token_deltas,
)


class _ChatCompletions:
    """Chat completion answers (a mixin of ``FakeUpstream``)."""

    async def _chat(self, conn: _Conn, raw: bytes, headers: dict[str, str], keep_alive: bool, http11: bool) -> bool:
        try:
            body = json.loads(raw)
        except ValueError:
            err = _error_body(400, "We could not parse the JSON body of your request.")
            self._send_simple(conn, 400, err, keep_alive)
            return keep_alive
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or "model" not in body:
            self._send_simple(conn, 400, _error_body(400, "'model' and 'messages' are required."), keep_alive)
            return keep_alive
        rid = self._record(body, headers)
        beh = self._next_behaviour()
        stream = bool(body.get("stream"))

        try:
            if isinstance(beh, SlowFirstByte):
                await self._pause(conn, beh.seconds)
            if isinstance(beh, Status):
                extra = b""
                if beh.retry_after is not None:
                    extra = b"retry-after: %s\r\n" % str(beh.retry_after).encode()
                self._send_simple(conn, beh.status, _error_body(beh.status, beh.message), keep_alive, extra, rid)
                return keep_alive
            if isinstance(beh, Deltas):
                return await self._deltas(conn, beh, body, rid, stream, keep_alive and http11)

            ok = beh if isinstance(beh, (Ok, Spend)) else _OK
            tokens = ok.tokens if isinstance(ok, Ok) else None
            mt = body.get("max_completion_tokens")
            if mt is None:
                mt = body.get("max_tokens")
            allowed = max(mt, 0) if isinstance(mt, int) else None
            if isinstance(beh, Spend):
                n = (self.chunks if allowed is None else allowed) + beh.extra_completion
                finish = "length"
                prompt_tokens = prompt_bytes(body["messages"]) + beh.extra_prompt
            else:
                n = ok.chunks if ok.chunks is not None else len(tokens) if tokens else self.chunks
                finish = "stop"
                if allowed is not None and allowed < n:
                    n, finish = allowed, "length"
                prompt_tokens = _count_prompt_tokens(body["messages"])
            delay = ok.delay_s if ok.delay_s is not None else self.delay_s
            if isinstance(beh, SlowFirstByte):
                delay = 0.0
            model = body.get("model")
            model_json = _dumps(model)
            created = int(time.time())

            if not stream:
                if delay > 0:
                    await self._pause(conn, delay)
                text = "".join(tokens[i % len(tokens)] for i in range(n)) if tokens else self.reply_text(n)
                out = (
                    '{"id":"chatcmpl-fake-%d","object":"chat.completion","created":%d,"model":%s,'
                    '"system_fingerprint":"fp_fake","choices":[{"index":0,"message":{"role":"assistant",'
                    '"content":%s,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"%s"}],'
                    '"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,'
                    '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
                    '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
                    '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},'
                    '"service_tier":"default"}'
                    % (rid, created, model_json, _dumps(text), finish, prompt_tokens, n, prompt_tokens + n)
                )
                self._send_simple(conn, 200, out.encode(), keep_alive, b"", rid)
                return keep_alive

            so = body.get("stream_options")
            include_usage = isinstance(so, dict) and bool(so.get("include_usage"))
            return await self._stream(
                conn,
                beh,
                rid,
                created,
                model_json,
                n,
                finish,
                prompt_tokens,
                include_usage,
                delay,
                ok.chunk_delay_s if ok.chunk_delay_s is not None else self.chunk_delay_s,
                keep_alive and http11,
            )
        except _ClientGone:
            self._mark_closed_early()
            conn.transport.abort()
            return False
        finally:
            await self._stop_watch(conn)

    async def _stream(
        self,
        conn: _Conn,
        beh: Behaviour,
        rid: int,
        created: int,
        model_json: str,
        n: int,
        finish: str,
        prompt_tokens: int,
        include_usage: bool,
        delay: float,
        chunk_delay: float,
        keep_alive: bool,
    ) -> bool:
        # keep_alive False (HTTP/1.0 or Connection: close): close-delimited body.
        chunked = keep_alive
        frame = _frame if chunked else (lambda e: e)
        head = (
            _STREAM_HEAD
            + b"x-request-id: req_fake_%d\r\n" % rid
            + (b"transfer-encoding: chunked\r\n\r\n" if chunked else b"connection: close\r\n\r\n")
        )
        prefix = (
            'data: {"id":"chatcmpl-fake-%d","object":"chat.completion.chunk","created":%d,"model":%s,'
            '"system_fingerprint":"fp_fake","choices":[{"index":0,"delta":' % (rid, created, model_json)
        )
        suffix = _CHUNK_TAIL + (_USAGE_NULL if include_usage else "") + "}\n\n"
        deltas = token_deltas(beh.tokens) if isinstance(beh, Ok) and beh.tokens else _TOKEN_DELTAS
        ntok = len(deltas)

        # events[0] = role, events[1..n] = content, then finish, usage, [DONE]
        events: list[bytes] = [(prefix + '{"role":"assistant","content":"","refusal":null}' + suffix).encode()]
        events.extend((prefix + deltas[i % ntok] + suffix).encode() for i in range(n))
        tail: list[bytes] = [
            (
                prefix
                + '{},"logprobs":null,"finish_reason":"%s"}]' % finish
                + (_USAGE_NULL if include_usage else "")
                + "}\n\n"
            ).encode()
        ]
        if include_usage:
            tail.append(
                (
                    'data: {"id":"chatcmpl-fake-%d","object":"chat.completion.chunk","created":%d,"model":%s,'
                    '"system_fingerprint":"fp_fake","choices":[],"usage":{"prompt_tokens":%d,'
                    '"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":0,'
                    '"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
                    '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}\n\n'
                    % (rid, created, model_json, prompt_tokens, n, prompt_tokens + n)
                ).encode()
            )
        tail.append(_DONE_EVENT)
        end = _CHUNKED_END if chunked else b""

        # Where does the fault kick in? (index into events: after role + k content chunks)
        cut = None
        if isinstance(beh, (StallMidStream, ResetMidStream, MalformedChunk)):
            cut = 1 + min(max(beh.after_chunks, 0), n)

        if delay <= 0 and chunk_delay <= 0 and cut is None:
            # Fast path: the whole stream in one write.
            conn.transport.write(head + b"".join(map(frame, events)) + b"".join(map(frame, tail)) + end)
            if not keep_alive:
                conn.transport.close()
            return keep_alive

        await self._send(conn, head)
        self._start_watch(conn)
        if delay > 0:
            await self._pause(conn, delay)

        async def emit(evs: list[bytes]) -> None:
            if chunk_delay > 0:
                for i, e in enumerate(evs):
                    if i:
                        await self._pause(conn, chunk_delay)
                    await self._send(conn, frame(e))
            elif evs:
                await self._send(conn, b"".join(map(frame, evs)))

        if cut is None:
            await emit(events)
        else:
            await emit(events[:cut])
            if isinstance(beh, StallMidStream):
                await self._pause(conn, beh.seconds)
            elif isinstance(beh, ResetMidStream):
                if beh.settle_s > 0:
                    await self._pause(conn, beh.settle_s)
                self._reset(conn, beh.rst)
                return False
            elif isinstance(beh, MalformedChunk):
                await self._send(conn, frame(_MALFORMED_EVENT))
                if beh.then == "close":
                    await self._send(conn, end)
                    conn.transport.close()
                    return False
            if chunk_delay > 0:
                await self._pause(conn, chunk_delay)
            await emit(events[cut:])
        if chunk_delay > 0:
            await self._pause(conn, chunk_delay)
        await self._send(conn, b"".join(map(frame, tail)) + end)
        if not keep_alive:
            conn.transport.close()
        return keep_alive
