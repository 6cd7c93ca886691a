-- 0003_purchase_lease: who is buying a purchasing number, and until when
-- that process vouches the purchase may still be in flight. The owner renews
-- purchase_lease_until while its buy request is out (and once more after
-- it, for a reply Vonage may still act on), so reconcile never drops a
-- purchase that may still go through. Both are cleared when the number
-- leaves purchasing. A row without a lease (NULL) is settled at once.
ALTER TABLE numbers ADD COLUMN purchase_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE numbers ADD COLUMN purchase_lease_until TEXT;
