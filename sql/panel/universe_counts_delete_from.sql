-- universe_counts: drop one frequency's counts from $from_date on before they are recomputed.
delete from universe_counts where freq = $freq and date >= $from_date;
