-- SQLite's m008_device_budgets (server/db/migrations.py): per-device write budgets (#22
-- M1), what each device wrote in the current window of each span (a minute, an hour),
-- updated by the sync's own transaction (server/db/budgets.py).
CREATE TABLE device_budgets (
    node text COLLATE "C" NOT NULL,
    span bigint NOT NULL,
    win bigint NOT NULL,
    changes bigint NOT NULL,
    bytes bigint NOT NULL,
    PRIMARY KEY (node, span)
);
