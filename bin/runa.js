#!/usr/bin/env node
// The bundled CLI (see scripts/bundle.mjs); dist/src holds the same code as modules.
import '../dist/bundle/main.js';
