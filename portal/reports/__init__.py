"""Reports for managers and head office: attach rate, revenue, declines, returns, per store and per associate."""
