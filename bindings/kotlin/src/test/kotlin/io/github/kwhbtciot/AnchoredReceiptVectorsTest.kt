package io.github.kwhbtciot

import io.github.kwhbtciot.Vectors.objects
import io.github.kwhbtciot.Vectors.optStringOrNull
import io.github.kwhbtciot.Vectors.stringList
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestFactory
import java.io.File

/**
 * tests/vectors/anchored_receipts.json: receipts with OpenTimestamps and bitcoin
 * anchors (regtest headers), heads chains, pending and needs_header proofs,
 * trusted headers and the ways each breaks; the options' errors; and the
 * receipts of a real gateway named by KWH_BTC_IOT_RECEIPTS_FILE.
 */
class AnchoredReceiptVectorsTest {
    private val doc = Vectors.project("anchored_receipts.json")
    private val cases = doc.getJSONArray("cases").objects()

    private fun options(c: JSONObject): VerifyOptions {
        val trusted = c.getJSONObject("trusted_headers")
        return VerifyOptions(
            gatewayKey = c.optStringOrNull("gateway_key"),
            network = c.getString("network"),
            headers = trusted.keys().asSequence().associate { it.toULong() to trusted.getString(it) },
        )
    }

    @TestFactory
    fun anchoredReceiptVectors(): List<DynamicTest> = cases.mapIndexed { i, c ->
        dynamicTest("anchored[$i] ${c.getString("desc")}") {
            val v = verifyReceiptWithOptions(c.getString("receipt"), options(c))
            assertEquals(c.getBoolean("want_valid"), v.valid, v.errors.toString())
            assertEquals(c.stringList("want_errors"), v.errors.map { it.code })
            val members = c.getJSONArray("want_error_members")
            assertEquals((0 until members.length()).map { if (members.isNull(it)) null else members.getString(it) }, v.errors.map { it.member })
            val want = c.getJSONArray("want_anchors").objects()
            assertEquals(want.size, v.anchors.size)
            for ((a, w) in v.anchors.zip(want)) {
                assertEquals(w.getString("type"), a.anchorType)
                assertEquals(w.getString("status"), a.status)
                assertEquals(w.optStringOrNull("failed_step"), a.failedStep)
                assertEquals(if (w.isNull("height")) null else w.getLong("height").toULong(), a.height)
                assertEquals(w.optStringOrNull("block_hash"), a.blockHash)
                assertEquals(w.optStringOrNull("anchored_head_hash"), a.anchoredHeadHash)
                assertFalse(a.detail.isEmpty())
                when (a.status) {
                    "verified" -> {
                        assertEquals(c.getString("network"), a.network)
                        assertNotNull(a.blockTime)
                        assertEquals(64, a.txid!!.length)
                        assertTrue(a.notChecked!!.contains(a.blockHash!!))
                    }
                    "pending" -> assertEquals(listOf(doc.getString("calendar")), a.calendars)
                    "invalid" -> assertEquals(c.getString("network"), a.network)
                }
            }
            // The JSON form says the same.
            val json = JSONObject(v.json)
            assertEquals(v.anchors.map { it.status }, json.getJSONArray("anchors").objects().map { it.getString("status") })
        }
    }

    @Test
    fun theDefaultNetworkIsMainnet() {
        val v = verifyReceipt(cases[0].getString("receipt"), null)
        assertFalse(v.valid)
        assertEquals(listOf("invalid", "header_pow", "mainnet"), v.anchors[0].let { listOf(it.status, it.failedStep, it.network) })
        assertEquals(v, verifyReceiptWithOptions(cases[0].getString("receipt"), VerifyOptions()))
    }

    @Test
    fun badOptionsThrowNamingTheMember() {
        val r = cases[0].getString("receipt")
        for ((opts, member) in listOf(
            VerifyOptions(network = "moon") to "network",
            VerifyOptions(network = "Regtest") to "network",
            VerifyOptions(headers = mapOf(150uL to "00")) to "headers.150",
            VerifyOptions(headers = mapOf(7uL to "zz".repeat(80))) to "headers.7",
            VerifyOptions(gatewayKey = "00") to "gateway_key",
        )) {
            val e = assertThrows(KwhException::class.java) { verifyReceiptWithOptions(r, opts) }
            val (code, m) = when (e) {
                is KwhException.Validation -> e.code to e.member
                is KwhException.Crypto -> e.code to e.member
                else -> error("unexpected $e")
            }
            assertEquals(member, m, e.message)
            assertTrue(code.isNotEmpty())
        }
    }

    /**
     * Every receipt (NDJSON) in $KWH_BTC_IOT_RECEIPTS_FILE is valid with a verified
     * anchor under $KWH_BTC_IOT_NETWORK (default mainnet), signed by
     * $KWH_BTC_IOT_GATEWAY_KEY when that is set. Skipped when the file is not named.
     */
    @Test
    fun receiptsFromAGateway() {
        val path = System.getenv("KWH_BTC_IOT_RECEIPTS_FILE")
        assumeTrue(!path.isNullOrEmpty(), "KWH_BTC_IOT_RECEIPTS_FILE is not set: no receipts from a gateway to verify")
        val network = System.getenv("KWH_BTC_IOT_NETWORK")?.ifEmpty { null } ?: "mainnet"
        val key = System.getenv("KWH_BTC_IOT_GATEWAY_KEY")?.ifEmpty { null }
        val lines = File(path!!).readLines(Charsets.UTF_8).filter { it.isNotBlank() }
        assertTrue(lines.isNotEmpty(), "$path holds no receipts")
        lines.forEachIndexed { i, line ->
            val v = verifyReceiptWithOptions(line, VerifyOptions(gatewayKey = key, network = network))
            assertTrue(v.valid, "receipt $i (line ${i + 1}): ${v.errors}")
            assertTrue(v.anchors.any { it.status == "verified" }, "receipt $i (line ${i + 1}): ${v.anchors.map { "${it.anchorType} ${it.status}: ${it.detail}" }}")
        }
    }
}
