"""Partition tests: hosts in network namespaces, links cut silently with nftables."""
