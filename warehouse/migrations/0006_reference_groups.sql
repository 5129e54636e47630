-- Reference profile version 2 (issue 12): numeric features have fine bins (for KS and
-- Wasserstein) grouped into quantile groups (for PSI and JS). group_ends[g] is the
-- 1-based index of the last fine bin of group g. Rows stored before this migration keep
-- an empty array, which the read path treats as one group per bin: the version 1 layout,
-- so their metrics do not change. Storing the profile again (a refit) replaces the row.
ALTER TABLE reference_features ADD COLUMN IF NOT EXISTS group_ends Array(UInt32) AFTER sums;
