#!/bin/sh
# `npm test`: the whole suite, then the abuse suite on its own. Its probes hold the node to answer
# within 100 ms under attack, and the cluster tests' many node processes would otherwise share the
# two cores with it and make that a measure of the machine.
status=0
tap || status=1
tap conformance/abuse/node.test.ts || status=1
exit $status
