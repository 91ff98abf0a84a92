-- One sync request for every tenancy whose config may name an external database (issue 19). On a Stack Auth
-- database switching from the in-app sync this is what makes every existing target converge at once: the engine
-- adopts each upstream-created target on its first run and re-applies every tenancy using it from the start, instead
-- of waiting for each tenancy's next change. Anywhere else it costs one no-op run per configured tenancy (cursors
-- already current). Over-inclusive on purpose: the engine's parser decides what is a target; the function skips
-- tenancies that already have a pending request.
SELECT sync_enqueue_tenancies(ARRAY(
    SELECT t."id"
    FROM "Tenancy" t
    JOIN "EnvironmentConfigOverride" e ON e."projectId" = t."projectId" AND e."branchId" = t."branchId"
    WHERE e."config"::text LIKE '%externalDatabases%'
    ORDER BY t."id"));

-- Rows of the shapes only Stack Auth's own in-app sync writes (no tenancy column; a claim without a lease). The
-- poller counts them on every stats refresh (UpstreamSyncWatch) to tell an operator that upstream's sync still runs;
-- partial, so the index is empty, and the count free, unless it does.
CREATE INDEX IF NOT EXISTS "OutgoingRequest_upstream_shape_idx"
    ON "OutgoingRequest" ("createdAt")
    WHERE "parkedAt" IS NULL
      AND ("tenancyId" IS NULL OR ("startedFulfillingAt" IS NOT NULL AND "leaseExpiresAt" IS NULL));
