-- 0003_purchase_lease: as internal/sqlite's 0003_purchase_lease.sql. Who is
-- buying a purchasing number, and until when that process vouches the
-- purchase may still be in flight; reconcile leaves it alone until then.
-- Both are cleared when the number leaves purchasing.
ALTER TABLE numbers ADD COLUMN purchase_owner text NOT NULL DEFAULT '';
ALTER TABLE numbers ADD COLUMN purchase_lease_until timestamptz;
