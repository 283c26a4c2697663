-- 004: the client's own client_order_id string. REST orders carry it in their NewOrder command record
-- (words 27..31, core/command-codec.ts CW_CLIENT_TEXT: up to 40 characters of [-./0-9:A-Z_a-z]);
-- the replicator stores it here. client_order_id keeps the engine's integer client id (word 6), which
-- is what binary-protocol orders have. NULL = the order had no string (binary orders, and rows
-- replicated before this migration: they keep their integer).
ALTER TABLE orders ADD COLUMN client_order_text VARCHAR(40);

-- Same view as 001, with the string appended (CREATE OR REPLACE VIEW may only add columns at the end).
CREATE OR REPLACE VIEW orders_decimal AS
SELECT o.order_id, i.symbol, o.account_id, o.client_order_id, o.side, o.order_type, o.time_in_force, o.status,
       o.price_ticks * i.tick_size AS price,
       o.stop_price_ticks * i.tick_size AS stop_price,
       o.qty_lots * i.lot_size AS quantity,
       o.filled_lots * i.lot_size AS filled_quantity,
       o.remaining_lots * i.lot_size AS remaining_quantity,
       CASE WHEN o.filled_lots > 0
            THEN o.filled_notional_units::numeric / (o.filled_lots * i.notional_units_per_tick_lot) * i.tick_size END AS average_price,
       o.fee_units::numeric / 10 ^ i.quote_decimals AS fee,
       o.created_at, o.updated_at, o.expires_at,
       o.client_order_text
FROM orders o JOIN instruments i USING (instrument_id);
