// The echo floor's client side: the echo server sends each NewOrder back unchanged; it is rewritten
// here into the ExecAccepted the engine would send (same ids and order fields, seq and time 0), so
// TradingClient matches and resolves it exactly as it does the engine's ack.

const MSG_NEW_ORDER = 1, NEW_ORDER_BYTES = 112, EXEC_ACCEPTED = 32, EXEC_ACCEPTED_BYTES = 88;

/** Rewrites each echoed NewOrder of a frame into an ExecAccepted carrying its ids and fields. */
export function echoToAccepted(frame: Uint8Array): Uint8Array {
  const n = Math.floor(frame.length / NEW_ORDER_BYTES);
  const out = new Uint8Array(n * EXEC_ACCEPTED_BYTES);
  const src = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const dst = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const s = i * NEW_ORDER_BYTES, d = i * EXEC_ACCEPTED_BYTES;
    if (src.getUint16(s + 2, true) !== MSG_NEW_ORDER) continue;
    dst.setUint16(d, EXEC_ACCEPTED_BYTES, true); dst.setUint16(d + 2, EXEC_ACCEPTED, true); dst.setUint16(d + 4, 1, true);
    out.set(frame.subarray(s + 8, s + 16), d + 32); // clientOrderId
    out.set(frame.subarray(s + 96, s + 100), d + 40); // instrumentId
    out.set(frame.subarray(s + 100, s + 103), d + 44); // side, orderType, tif
    out.set(frame.subarray(s + 16, s + 32), d + 48); // priceTicks, qtyLots
  }
  return out;
}

