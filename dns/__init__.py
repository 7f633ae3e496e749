"""The DNS reconciler: Cloudflare A record and Tailscale split-DNS.

Desired → observed → plan → apply, as external-dns does it.
"""
