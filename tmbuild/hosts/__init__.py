"""Stage 6, the hosts: one caching and security policy, written for each host.

- policy: the site policy (`site_policy`): cache lifetimes, types, security headers
- files: the policy as each host's file (_headers, vercel.json, firebase.json, the S3 plan)
- blocked: what the templates load from other sites that the policy would block
- servers: the policy for servers you run (an nginx include, an Apache .htaccess)
"""
