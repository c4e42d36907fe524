"""Out-of-sample evaluation: window plans, fits and scores per window, selection, metrics."""
