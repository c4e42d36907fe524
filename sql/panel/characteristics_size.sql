-- characteristics_{freq}: its size (one row), told to the user before it is replaced or restored.
select
    count(*) as n_rows,
    count(distinct date) as n_dates,
from characteristics_{freq};
