"""Dataset readers: each module reads one distributed on-disk layout into `DatasetItems` (docs/data.md).

Stdlib and numpy only: lists are parsed line by line and images are checked by directory listing, never opened.
A missing or malformed file raises FileNotFoundError or ValueError naming the file and the expected layout. Each
dataset's registration (`flexcoder.data.registry`) names its reader and layout text.
"""
