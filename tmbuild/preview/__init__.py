"""`tmbuild serve`: the built site served as its host would, rebuilt and reloaded on changes.

- server: the HTTP server, applying the site's _headers and serving .br/.gz siblings
- watch: the loop that notices changed inputs and rebuilds
- reload: the script and event stream that reload open pages
- headers_file: a _headers file read back the way the hosts apply it
"""
