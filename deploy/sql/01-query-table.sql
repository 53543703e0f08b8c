-- ExperimentGrid's PostgreSQL schema for the Orleans 10 AdoNet providers, part 1 of 4.
--
-- Every AdoNet provider (clustering, grain persistence, reminders) reads the statements it runs from this table
-- when it starts (SELECT QueryKey, QueryText FROM OrleansQuery), so the later scripts upsert their rows here.
-- The scripts are idempotent: GridDatabase.InitializeAsync runs them all at every silo start-up, in one transaction
-- under an advisory lock. By hand: for f in deploy/sql/*.sql; do psql -v ON_ERROR_STOP=1 -f "$f" "$DATABASE"; done
--
-- Requires PostgreSQL 15 or later (UNIQUE NULLS NOT DISTINCT in 03-persistence.sql).

CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  varchar(64) NOT NULL,
    QueryText text        NOT NULL,
    CONSTRAINT OrleansQuery_pkey PRIMARY KEY (QueryKey)
);
