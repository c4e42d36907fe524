-- catalog_search_path: let plain names (prices, metrics) resolve to the output views first,
-- then to the attached warehouse, so one query joins both without qualifying names.
set search_path = 'main,warehouse.main';
