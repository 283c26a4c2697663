-- 002: time-series tables (plan section 6.2). migrate.ts sets `trading.timescale` to 'on' for this
-- transaction when the timescaledb extension is installed (or could be created); then the tables
-- become hypertables. Otherwise they stay plain tables with BRIN indexes on time (append-mostly, so
-- a BRIN index is tiny and keeps time-range scans cheap).
-- Hypertables need the time column in every unique index, so the keys below include it.

-- One row per trade (both sides); a trade is (instrument_id, trade_id).
CREATE TABLE trades (
    ts TIMESTAMPTZ NOT NULL,
    instrument_id INTEGER NOT NULL,
    trade_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    price_ticks BIGINT NOT NULL,
    qty_lots BIGINT NOT NULL,
    notional_units BIGINT NOT NULL,
    taker_side VARCHAR(4) NOT NULL CHECK (taker_side IN ('buy', 'sell')),
    maker_order_id BIGINT NOT NULL,
    maker_account_id BIGINT NOT NULL,
    taker_order_id BIGINT NOT NULL,
    taker_account_id BIGINT NOT NULL,
    maker_fee_units BIGINT NOT NULL,
    taker_fee_units BIGINT NOT NULL,
    PRIMARY KEY (instrument_id, trade_id, ts)
);
CREATE INDEX idx_trades_maker_order_id ON trades(maker_order_id);
CREATE INDEX idx_trades_taker_order_id ON trades(taker_order_id);
CREATE INDEX idx_trades_instrument_ts ON trades(instrument_id, ts DESC);

-- OHLCV candles (market_data of the plan), in engine units; timeframe in 1m 5m 15m 1h 4h 1d.
CREATE TABLE market_data (
    time TIMESTAMPTZ NOT NULL,
    symbol VARCHAR(20) NOT NULL,
    exchange VARCHAR(50) NOT NULL DEFAULT 'engine',
    timeframe VARCHAR(10) NOT NULL,
    instrument_id INTEGER NOT NULL,
    open_ticks BIGINT NOT NULL,
    high_ticks BIGINT NOT NULL,
    low_ticks BIGINT NOT NULL,
    close_ticks BIGINT NOT NULL,
    volume_lots BIGINT NOT NULL,
    quote_volume_units BIGINT NOT NULL,
    trades_count BIGINT NOT NULL,
    PRIMARY KEY (time, symbol, exchange, timeframe)
);
CREATE INDEX idx_market_data_symbol ON market_data(symbol, timeframe, time DESC);
CREATE INDEX idx_market_data_exchange ON market_data(exchange, time DESC);

CREATE TABLE trading_signals (
    time TIMESTAMPTZ NOT NULL,
    strategy_id BIGINT NOT NULL,
    symbol VARCHAR(20) NOT NULL,
    signal_type VARCHAR(20) NOT NULL,
    strength NUMERIC(5, 4) NOT NULL,
    confidence NUMERIC(5, 4) NOT NULL,
    price_ticks BIGINT,
    qty_lots BIGINT,
    metadata JSONB,
    processed BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX idx_trading_signals_strategy ON trading_signals(strategy_id, time DESC);
CREATE INDEX idx_trading_signals_symbol ON trading_signals(symbol, time DESC);

-- Valued in a reporting currency (not engine units): NUMERIC(38, 8).
CREATE TABLE portfolio_metrics (
    time TIMESTAMPTZ NOT NULL,
    user_id BIGINT NOT NULL,
    account_id BIGINT NOT NULL,
    total_value NUMERIC(38, 8) NOT NULL,
    unrealized_pnl NUMERIC(38, 8),
    realized_pnl NUMERIC(38, 8),
    daily_return NUMERIC(10, 6),
    cumulative_return NUMERIC(10, 6),
    volatility NUMERIC(10, 6),
    sharpe_ratio NUMERIC(10, 6),
    max_drawdown NUMERIC(10, 6),
    PRIMARY KEY (time, user_id, account_id)
);

DO $$
BEGIN
    IF current_setting('trading.timescale', true) = 'on' THEN
        PERFORM create_hypertable('trades', 'ts', chunk_time_interval => INTERVAL '1 day');
        PERFORM create_hypertable('market_data', 'time', chunk_time_interval => INTERVAL '7 days');
        PERFORM create_hypertable('trading_signals', 'time');
        PERFORM create_hypertable('portfolio_metrics', 'time');
    ELSE
        CREATE INDEX idx_trades_ts_brin ON trades USING BRIN (ts);
        CREATE INDEX idx_market_data_time_brin ON market_data USING BRIN (time);
        CREATE INDEX idx_trading_signals_time_brin ON trading_signals USING BRIN (time);
        CREATE INDEX idx_portfolio_metrics_time_brin ON portfolio_metrics USING BRIN (time);
    END IF;
END
$$;

CREATE VIEW trades_decimal AS
SELECT t.ts, i.symbol, t.trade_id, t.taker_side,
       t.price_ticks * i.tick_size AS price,
       t.qty_lots * i.lot_size AS quantity,
       t.notional_units::numeric / 10 ^ i.quote_decimals AS quote_quantity,
       t.maker_order_id, t.maker_account_id, t.taker_order_id, t.taker_account_id,
       t.maker_fee_units::numeric / 10 ^ i.quote_decimals AS maker_fee,
       t.taker_fee_units::numeric / 10 ^ i.quote_decimals AS taker_fee
FROM trades t JOIN instruments i USING (instrument_id);
