"""The built-in block library. Each block is one module: a Config model plus a class."""
