package io.github.kwhbtciot

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** The founding example and the README's five lines, run for real. */
class ReadmeExampleTest {
    private val log = Vectors.foundingExample()
    private val seed = "07".repeat(32)
    private val gatewayKey = publicKey(seed)
    private val receiptJson =
        buildBatch(listOf(log), BatchParams("gw-PLANT01", "batch-1", 1UL, null, "2025-12-01T10:20:00Z"), seed).receipts[0]

    @Test
    fun foundingExampleIsAcceptedWithAPowerMismatchWarning() {
        val n = normalize(log)
        assertEquals(listOf("power_mismatch"), n.warnings.map { it.code })
        assertEquals("power_kw_avg", n.warnings[0].member)
        assertEquals(300UL, n.log.intervalS)
        assertEquals(12.34, n.log.energyKwh)
        assertEquals(2.47, n.log.powerKwAvg)
        assertEquals(1234UL, n.log.tx.amountSats)
        assertEquals(listOf("peak"), n.log.tags)
        assertEquals("2025-12-01T10:10:00Z", n.log.tsStart)
        assertEquals(null, n.log.tx.lnInvoiceId)
        assertEquals(leafHash(log), n.leafHash)
        assertEquals(n.leafHash, Vectors.sha256(0x00, n.canonicalJson.toByteArray(Charsets.UTF_8)))
    }

    @Test
    fun readmeFiveLines() {
        // --- README (bindings/kotlin/README.md) ---
        val v = verifyReceipt(receiptJson, gatewayKey) // a bad receipt is an invalid result, not an exception
        val report = if (v.valid) "receipt OK: leaf ${v.leafHash} in batch ${v.headHash}"
        else v.errors.joinToString { "${it.code}: ${it.message}" }
        // --- end ---
        assertTrue(v.valid, report)
        assertEquals("receipt OK: leaf ${leafHash(log)} in batch ${v.headHash}", report)
        assertEquals(SignatureStatus.VALID, v.signature)
        assertEquals(listOf("parse", "leaf_hash", "inclusion", "head", "signature", "log_signature", "anchors"), v.steps.map { it.name })
    }

    @Test
    fun tamperedReceiptIsReportedWithItsReason() {
        val tampered = receiptJson.replace("\"meter_id\":\"MTR-001\"", "\"meter_id\":\"MTR-002\"")
        assertTrue(tampered != receiptJson)
        val v = verifyReceipt(tampered, gatewayKey)
        assertFalse(v.valid)
        assertEquals(listOf("leaf_hash_mismatch"), v.errors.map { it.code })
        assertEquals(SignatureStatus.VALID, v.signature) // the head itself is untouched
    }

    @Test
    fun receiptSignedByAnotherKeyIsUntrusted() {
        val v = verifyReceipt(receiptJson, publicKey("08".repeat(32)))
        assertFalse(v.valid)
        assertEquals(SignatureStatus.UNTRUSTED_KEY, v.signature)
        assertEquals(listOf("untrusted_key"), v.errors.map { it.code })
    }
}
