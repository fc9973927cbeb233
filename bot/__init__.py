"""Tradewire: a signal-trading daemon.

Signals arrive from sources (websocket streams, webhooks, the API), become order intents through strategy
plugins, pass a pure risk policy, and are executed through ccxt venue connectors with every order persisted
before it is sent. Fills come back over the venue's websockets and keep positions and their protective
legs up to date. `bot.daemon` wires the components; `bot.cli` is the command line.
"""
