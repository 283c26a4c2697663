-- 001: core tables (plan section 6.1), adapted to the engine.
-- Fixed point: every price, quantity and amount the engine produces is stored as a BIGINT count of
-- engine units (price ticks, quantity lots, asset smallest units), exactly as in the events. The scale
-- of each is in `instruments` (tick_size, lot_size, asset decimals); the *_decimal views turn units into
-- NUMERIC decimals. Ids of orders and trades are the engine's (order id = the command's seq, unique
-- engine-wide; trade id counts from 1 per instrument, so a trade is (instrument_id, trade_id)).
-- Times: engine time (microseconds since the epoch) stored as timestamptz, which keeps microseconds exactly.

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    username VARCHAR(50) UNIQUE NOT NULL,
    email VARCHAR(255) UNIQUE NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    first_name VARCHAR(100),
    last_name VARCHAR(100),
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- id = the engine's account id (not generated here: the engine's ledger owns account ids).
CREATE TABLE trading_accounts (
    id BIGINT PRIMARY KEY,
    user_id BIGINT REFERENCES users(id),
    account_type VARCHAR(20) NOT NULL DEFAULT 'spot' CHECK (account_type IN ('spot', 'margin', 'futures')),
    exchange VARCHAR(50) NOT NULL DEFAULT 'engine',
    api_key_encrypted TEXT,
    api_secret_encrypted TEXT,
    is_active BOOLEAN NOT NULL DEFAULT true,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_trading_accounts_user_id ON trading_accounts(user_id);

-- The scale of every BIGINT unit column (see core/instrument.ts).
CREATE TABLE instruments (
    instrument_id INTEGER PRIMARY KEY,
    symbol VARCHAR(20) UNIQUE NOT NULL,
    base_asset VARCHAR(20) NOT NULL,
    quote_asset VARCHAR(20) NOT NULL,
    tick_size NUMERIC(38, 18) NOT NULL CHECK (tick_size > 0),
    lot_size NUMERIC(38, 18) NOT NULL CHECK (lot_size > 0),
    base_decimals SMALLINT NOT NULL CHECK (base_decimals BETWEEN 0 AND 18),
    quote_decimals SMALLINT NOT NULL CHECK (quote_decimals BETWEEN 0 AND 18),
    -- quote units per (1 tick x 1 lot); base units per lot
    notional_units_per_tick_lot BIGINT NOT NULL CHECK (notional_units_per_tick_lot > 0),
    base_units_per_lot BIGINT NOT NULL CHECK (base_units_per_lot > 0),
    spec JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- One row per accepted order. No foreign keys to accounts or instruments: the engine is the source
-- of truth and replication must never refuse a row (accounts are created by the ledger, not here).
CREATE TABLE orders (
    order_id BIGINT PRIMARY KEY,
    instrument_id INTEGER NOT NULL,
    account_id BIGINT NOT NULL,
    client_order_id BIGINT NOT NULL DEFAULT 0,
    side VARCHAR(4) NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type VARCHAR(20) NOT NULL,
    time_in_force VARCHAR(3) NOT NULL CHECK (time_in_force IN ('GTC', 'IOC', 'FOK', 'GTD')),
    flags INTEGER NOT NULL DEFAULT 0,
    price_ticks BIGINT NOT NULL DEFAULT 0,          -- limit price (0 for market-type orders)
    stop_price_ticks BIGINT NOT NULL DEFAULT 0,     -- trigger price X, known once triggered
    qty_lots BIGINT NOT NULL,                       -- total quantity incl. filled (0 for QuoteQty market orders)
    quote_qty_units BIGINT NOT NULL DEFAULT 0,
    remaining_lots BIGINT NOT NULL,
    filled_lots BIGINT NOT NULL DEFAULT 0,
    filled_notional_units BIGINT NOT NULL DEFAULT 0, -- sum of price*qty*N over fills: avg price = this / (filled_lots * N) ticks
    fee_units BIGINT NOT NULL DEFAULT 0,             -- quote units, negative = rebate
    status VARCHAR(16) NOT NULL CHECK (status IN ('new', 'partially_filled', 'filled', 'canceled', 'expired')),
    end_reason SMALLINT,                             -- EndReason of Canceled/Expired (core/types.ts)
    triggered BOOLEAN NOT NULL DEFAULT false,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    created_seq BIGINT NOT NULL,
    updated_seq BIGINT NOT NULL
);
CREATE INDEX idx_orders_account_id ON orders(account_id, created_at DESC);
CREATE INDEX idx_orders_instrument_id ON orders(instrument_id, created_at DESC);
CREATE INDEX idx_orders_open ON orders(account_id) WHERE status IN ('new', 'partially_filled');
CREATE INDEX idx_orders_status ON orders(status);
CREATE INDEX idx_orders_created_at ON orders USING BRIN (created_at);

-- Positions per (account, instrument), from trades: exact integer totals. Average prices and the
-- realized PnL of the matched quantity are derived in positions_decimal.
CREATE TABLE positions (
    account_id BIGINT NOT NULL,
    instrument_id INTEGER NOT NULL,
    net_lots BIGINT NOT NULL,
    bought_lots BIGINT NOT NULL,
    sold_lots BIGINT NOT NULL,
    buy_notional_units BIGINT NOT NULL,
    sell_notional_units BIGINT NOT NULL,
    fee_units BIGINT NOT NULL,
    trade_count BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, instrument_id)
);

-- Balances in the asset's smallest unit, as the ledger reports them (absolute values).
CREATE TABLE account_balances (
    account_id BIGINT NOT NULL,
    asset VARCHAR(20) NOT NULL,
    available_units BIGINT NOT NULL,
    locked_units BIGINT NOT NULL,
    total_units BIGINT GENERATED ALWAYS AS (available_units + locked_units) STORED,
    updated_at TIMESTAMPTZ NOT NULL,
    updated_seq BIGINT NOT NULL,
    PRIMARY KEY (account_id, asset)
);

CREATE TABLE trading_strategies (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT REFERENCES users(id),
    name VARCHAR(255) NOT NULL,
    description TEXT,
    strategy_type VARCHAR(50) NOT NULL,
    config JSONB NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'INACTIVE',
    performance JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_trading_strategies_user_id ON trading_strategies(user_id);

CREATE TABLE strategy_executions (
    id BIGSERIAL PRIMARY KEY,
    strategy_id BIGINT REFERENCES trading_strategies(id),
    execution_type VARCHAR(20) NOT NULL CHECK (execution_type IN ('backtest', 'paper', 'live')),
    status VARCHAR(20) NOT NULL DEFAULT 'PENDING',
    config JSONB,
    results JSONB,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_strategy_executions_strategy_id ON strategy_executions(strategy_id);

-- The replicator's position in the replication stream: updated in the same transaction as the rows.
CREATE TABLE replication_checkpoint (
    name VARCHAR(64) PRIMARY KEY,
    seq BIGINT NOT NULL,
    records BIGINT NOT NULL DEFAULT 0,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE VIEW orders_decimal AS
SELECT o.order_id, i.symbol, o.account_id, o.client_order_id, o.side, o.order_type, o.time_in_force, o.status,
       o.price_ticks * i.tick_size AS price,
       o.stop_price_ticks * i.tick_size AS stop_price,
       o.qty_lots * i.lot_size AS quantity,
       o.filled_lots * i.lot_size AS filled_quantity,
       o.remaining_lots * i.lot_size AS remaining_quantity,
       CASE WHEN o.filled_lots > 0
            THEN o.filled_notional_units::numeric / (o.filled_lots * i.notional_units_per_tick_lot) * i.tick_size END AS average_price,
       o.fee_units::numeric / 10 ^ i.quote_decimals AS fee,
       o.created_at, o.updated_at, o.expires_at
FROM orders o JOIN instruments i USING (instrument_id);

CREATE VIEW positions_decimal AS
SELECT p.account_id, i.symbol,
       p.net_lots * i.lot_size AS quantity,
       CASE WHEN p.bought_lots > 0 THEN p.buy_notional_units::numeric / (p.bought_lots * i.notional_units_per_tick_lot) * i.tick_size END AS average_buy_price,
       CASE WHEN p.sold_lots > 0 THEN p.sell_notional_units::numeric / (p.sold_lots * i.notional_units_per_tick_lot) * i.tick_size END AS average_sell_price,
       -- realized PnL of the matched quantity min(bought, sold) at the average prices, before fees
       CASE WHEN p.bought_lots > 0 AND p.sold_lots > 0
            THEN LEAST(p.bought_lots, p.sold_lots)
                 * (p.sell_notional_units::numeric / p.sold_lots - p.buy_notional_units::numeric / p.bought_lots)
                 / 10 ^ i.quote_decimals
            ELSE 0 END AS realized_pnl,
       p.fee_units::numeric / 10 ^ i.quote_decimals AS fees,
       p.updated_at
FROM positions p JOIN instruments i USING (instrument_id);
