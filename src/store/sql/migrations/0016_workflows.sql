-- Workflows that pass results: a dependant's delivery carries the results of its direct
-- blockers (JobDelivery.depends_on_results).

-- The results of the jobs ids (a dependant's depends_on), in that order, for its delivery. They
-- are taken in order while their sizes add up to at most max_bytes; the one that would pass it
-- and every one after it are NULL (omitted), as is the result of a blocker that no longer
-- exists (retention deleted it). Sizes are read without detoasting, so an omitted result is
-- never loaded. A dependant becomes AVAILABLE only once every blocker succeeded, so a claimed
-- dependant finds them all SUCCEEDED, their results committed. The blockers are read by primary
-- key whatever plan is cached for the function (it may have been made while the table was
-- empty), as baton.chain_of reads a parent (0009_claim_plans).
create function baton.depends_on_results(ids bigint[], max_bytes bigint) returns bytea[]
language sql stable parallel safe set enable_seqscan = off as $$
  select array_agg(case when r.bytes_so_far <= max_bytes then r.result end order by r.ord)
  from (
    select d.ord, b.result,
           sum(coalesce(octet_length(b.result), 0)) over (order by d.ord) as bytes_so_far
    from unnest(ids) with ordinality as d(id, ord)
    left join baton.jobs b on b.id = d.id
  ) r
$$;
