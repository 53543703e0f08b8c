-- Grain state for Microsoft.Orleans.Persistence.AdoNet.
--
-- The provider reads WriteToStorageKey, ReadFromStorageKey and ClearStorageKey (required) and DeleteStorageKey
-- (only needed with DeleteStateOnClear, which the grid does not use, so it is not provided). A grain is identified
-- by @ServiceId, @GrainTypeString (the grain class and state name), @GrainIdN0/@GrainIdN1 (its integer or GUID key)
-- and @GrainIdExtensionString (its string key or key extension, or NULL). The provider also passes @GrainIdHash and
-- @GrainTypeHash; the unique key below indexes the full identity, so the hashes are not stored.
-- ETags are the integer Version: a write or clear succeeds only with the version last read, and answers with the new
-- one; an answer of NULL or of the unchanged version makes the provider throw InconsistentStateException.

CREATE TABLE IF NOT EXISTS OrleansStorage
(
    ServiceId              varchar(150) NOT NULL,
    GrainTypeString        varchar(512) NOT NULL,
    GrainIdN0              bigint       NOT NULL,
    GrainIdN1              bigint       NOT NULL,
    GrainIdExtensionString varchar(512) NULL,
    PayloadBinary          bytea        NULL,
    ModifiedOn             timestamptz  NOT NULL DEFAULT now(),
    Version                integer      NOT NULL,
    -- NULLS NOT DISTINCT: two grains without a key extension are the same grain, so a second first write conflicts.
    CONSTRAINT OrleansStorage_grain UNIQUE NULLS NOT DISTINCT
        (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString)
);

INSERT INTO OrleansQuery (QueryKey, QueryText) VALUES
('ReadFromStorageKey', $q$
SELECT PayloadBinary, Version
FROM OrleansStorage
WHERE ServiceId = @ServiceId AND GrainTypeString = @GrainTypeString
  AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1
  AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString
$q$),

-- With a version: update that version. Without one (never written): insert version 1, or nothing if another writer
-- got there first. Exactly one of the two branches can return a row.
('WriteToStorageKey', $q$
WITH updated AS (
    UPDATE OrleansStorage
    SET PayloadBinary = @PayloadBinary, ModifiedOn = now(), Version = Version + 1
    WHERE @GrainStateVersion IS NOT NULL
      AND ServiceId = @ServiceId AND GrainTypeString = @GrainTypeString
      AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1
      AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString
      AND Version = @GrainStateVersion
    RETURNING Version
), inserted AS (
    INSERT INTO OrleansStorage
        (ServiceId, GrainTypeString, GrainIdN0, GrainIdN1, GrainIdExtensionString, PayloadBinary, Version)
    SELECT @ServiceId, @GrainTypeString, @GrainIdN0, @GrainIdN1, @GrainIdExtensionString, @PayloadBinary, 1
    WHERE @GrainStateVersion IS NULL
    ON CONFLICT DO NOTHING
    RETURNING Version
)
SELECT (SELECT Version FROM updated UNION ALL SELECT Version FROM inserted) AS NewGrainStateVersion
$q$),

-- Clearing keeps the row with no payload and a new version, so a stale writer still conflicts afterwards.
('ClearStorageKey', $q$
UPDATE OrleansStorage
SET PayloadBinary = NULL, ModifiedOn = now(), Version = Version + 1
WHERE ServiceId = @ServiceId AND GrainTypeString = @GrainTypeString
  AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1
  AND GrainIdExtensionString IS NOT DISTINCT FROM @GrainIdExtensionString
  AND Version = @GrainStateVersion
RETURNING Version AS NewGrainStateVersion
$q$)
ON CONFLICT (QueryKey) DO UPDATE SET QueryText = EXCLUDED.QueryText;
