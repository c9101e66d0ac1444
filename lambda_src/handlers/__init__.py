"""Lambda entry points ``handlers.<fn>.handler``: parse the event, call the domain, map the result."""
