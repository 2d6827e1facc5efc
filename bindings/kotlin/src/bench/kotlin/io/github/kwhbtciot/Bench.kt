// Throughput of the Kotlin bindings on the JVM (JNA + uniffi + the core), run by
// bindings/kotlin/bench.sh against the release library. Not a test: no timing
// is asserted anywhere; the numbers go to bindings/kotlin/PERFORMANCE.md.
package io.github.kwhbtciot

import java.io.File

private fun <T> measure(label: String, ops: Int, rounds: Int = 5, body: () -> T): String {
    repeat(2) { body() } // warm-up (JIT, first library calls)
    val nanos = (1..rounds).map {
        val t0 = System.nanoTime()
        body()
        System.nanoTime() - t0
    }.sorted()
    val median = nanos[rounds / 2].toDouble()
    val perOpUs = median / ops / 1_000.0
    val perSec = ops / (median / 1e9)
    return "| $label | $ops | ${"%.2f".format(perOpUs)} | ${"%,.0f".format(perSec)} |"
}

fun main(args: Array<String>) {
    val root = File(args.getOrElse(0) { "../.." })
    val log = File(root, "tests/vectors/founding_example.json").readText()
    val seed = "07".repeat(32)
    val params = BatchParams("gw-bench", "batch-1", 1UL, null, "2025-12-01T10:20:00Z")
    val logs = (0 until 1000).map { log.replace("\"MTR-001\"", "\"MTR-$it\"") }
    val built = buildBatch(logs, params, seed)
    val receipt = built.receipts[500]
    val key = publicKey(seed)
    val leaves = logs.map(::leafHash)

    val rows = listOf(
        // Nearly no work in the core: the fixed cost of one call (JNA structures, RustBuffers).
        measure("merkleRoot(empty list): call overhead", 20_000) { repeat(20_000) { merkleRoot(emptyList()) } },
        measure("leafHash(founding example)", 20_000) { repeat(20_000) { leafHash(log) } },
        measure("normalize(founding example)", 20_000) { repeat(20_000) { normalize(log) } },
        measure("verifyReceipt(receipt of a 1000-log batch, trusted key)", 5_000) {
            repeat(5_000) { check(verifyReceipt(receipt, key).valid) }
        },
        measure("merkleRoot(1000 leaf hashes)", 200) { repeat(200) { merkleRoot(leaves) } },
        measure("verifyInclusion(leaf 500 of 1000)", 20_000) {
            val path = inclusionProof(leaves, 500UL)
            repeat(20_000) { verifyInclusion(leaves[500], 500UL, 1000UL, path, built.merkleRoot) }
        },
        measure("buildBatch(1000 logs, signed)", 5) { repeat(5) { buildBatch(logs, params, seed) } },
    )
    println("| operation | calls per round | µs per call (median of 5) | calls/s |")
    println("|---|---|---|---|")
    rows.forEach(::println)
}
