-- A demo project whose dbSync config points at the compose file's external database. Idempotent.
INSERT INTO "Project" ("id", "updatedAt", "displayName", "isProductionMode")
VALUES ('compose-demo', now(), 'Compose demo', false) ON CONFLICT DO NOTHING;
INSERT INTO "Tenancy" ("id", "updatedAt", "projectId", "branchId", "hasNoOrganization")
VALUES ('0b6c1c8e-7a4f-4e0e-9a53-2a6f0c1f0d01', now(), 'compose-demo', 'main', 'TRUE') ON CONFLICT DO NOTHING;
INSERT INTO "EnvironmentConfigOverride" ("projectId", "branchId", "updatedAt", "config")
VALUES ('compose-demo', 'main', now(),
        '{"dbSync": {"externalDatabases": {"main": {"type": "postgres",
          "connectionString": "postgresql://tenant:tenant@external-db:5432/tenant"}}}}')
ON CONFLICT ("projectId", "branchId") DO UPDATE SET "config" = EXCLUDED."config", "updatedAt" = now();
INSERT INTO "ProjectUser" ("tenancyId", "projectUserId", "mirroredProjectId", "mirroredBranchId", "updatedAt", "displayName")
SELECT '0b6c1c8e-7a4f-4e0e-9a53-2a6f0c1f0d01', md5('compose' || n)::uuid, 'compose-demo', 'main', now(), 'Demo user ' || n
FROM generate_series(1, 3) AS n ON CONFLICT DO NOTHING;
