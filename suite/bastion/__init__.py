"""`suite-bastion`: offline model import on the bastion host (commands arrive with the bastion issue)."""
