-- 003: trades imported from other venues (scripts/marketdata.ts import-trades), kept apart from the
-- engine's own `trades`: those are both sides of a fill on this engine (order and account ids, fees)
-- and the replicator's exact read side; an exchange's public trade file has none of that, and mixing
-- the two would let a third party's trades pass for fills here. Imported candles need no table of
-- their own: they go to market_data with exchange = the source name (the engine's are 'engine').
--
-- A trade is (source, symbol, trade_id). The key also holds ts because a hypertable needs the time
-- column in every unique index; the importer therefore deletes a trade id stored under another time
-- before inserting it, so an id is still stored once.

CREATE TABLE historical_trades (
    ts TIMESTAMPTZ NOT NULL,
    source VARCHAR(50) NOT NULL,
    symbol VARCHAR(20) NOT NULL,
    trade_id BIGINT NOT NULL,
    instrument_id INTEGER NOT NULL,
    price_ticks BIGINT NOT NULL,
    qty_lots BIGINT NOT NULL,
    notional_units BIGINT NOT NULL,
    taker_side VARCHAR(4) NOT NULL CHECK (taker_side IN ('buy', 'sell')),
    PRIMARY KEY (source, symbol, trade_id, ts)
);
CREATE INDEX idx_historical_trades_symbol_ts ON historical_trades(source, symbol, ts, trade_id);

DO $$
BEGIN
    IF current_setting('trading.timescale', true) = 'on' THEN
        PERFORM create_hypertable('historical_trades', 'ts', chunk_time_interval => INTERVAL '1 day');
    ELSE
        CREATE INDEX idx_historical_trades_ts_brin ON historical_trades USING BRIN (ts);
    END IF;
END
$$;
