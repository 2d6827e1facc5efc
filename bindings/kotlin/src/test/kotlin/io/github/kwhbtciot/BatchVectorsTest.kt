package io.github.kwhbtciot

import io.github.kwhbtciot.Vectors.objects
import io.github.kwhbtciot.Vectors.optStringOrNull
import io.github.kwhbtciot.Vectors.stringList
import io.github.kwhbtciot.Vectors.u64
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** tests/vectors/batch.json: the same logs, params and key give the same head, signature and receipts. */
class BatchVectorsTest {
    private val v = Vectors.project("batch.json")
    private val seed = v.getString("signing_key_seed")
    private val logs = v.stringList("logs")
    private val params = v.getJSONObject("params").let { p ->
        BatchParams(
            gatewayId = p.getString("gateway_id"),
            batchId = p.getString("batch_id"),
            seq = p.u64("seq"),
            prevHeadHash = p.optStringOrNull("prev_head_hash"),
            createdAt = p.getString("created_at"),
        )
    }

    @Test
    fun publicKeyOfTheSeed() {
        assertEquals(v.getString("public_key"), publicKey(seed))
    }

    @Test
    fun leafHashesAndRoot() {
        val leaves = v.stringList("leaf_hashes")
        assertEquals(leaves, logs.map(::leafHash))
        assertEquals(v.getJSONObject("head").getString("merkle_root"), merkleRoot(leaves))
    }

    @Test
    fun buildBatchReproducesTheVector() {
        val built = buildBatch(logs, params, seed)
        val headCanonical = v.getString("head_canonical")
        assertEquals(headCanonical, built.headJson)
        assertEquals(canonicalizeJson(v.getJSONObject("head").toString()), built.headJson)
        assertEquals(v.getString("head_hash"), built.headHash)
        // head hash = SHA-256(0x02 || JCS(head)), checked with the JDK.
        assertEquals(built.headHash, Vectors.sha256(0x02, headCanonical.toByteArray(Charsets.UTF_8)))
        assertEquals(v.getString("signature"), built.signature)
        assertEquals(v.getString("public_key"), built.publicKey)
        assertEquals(logs.size.toULong(), built.logCount)
        assertEquals(v.getJSONObject("head").getString("merkle_root"), built.merkleRoot)
        val want = v.getJSONArray("receipts").objects().map { canonicalizeJson(it.toString()) }
        assertEquals(want, built.receipts)
        for (w in built.warnings) {
            assertTrue(w.logIndex < logs.size.toULong())
            assertEquals(normalize(logs[w.logIndex.toInt()]).warnings.first { it.code == w.warning.code }, w.warning)
        }
    }

    @Test
    fun everyBuiltReceiptVerifiesAgainstTheGatewayKey() {
        val built = buildBatch(logs, params, seed)
        built.receipts.forEachIndexed { i, receipt ->
            val result = verifyReceipt(receipt, v.getString("public_key"))
            assertTrue(result.valid, "receipt $i: ${result.errors}")
            assertEquals(SignatureStatus.VALID, result.signature)
            assertEquals(built.headHash, result.headHash)
            assertEquals(built.merkleRoot, result.merkleRoot)
            assertEquals(leafHash(logs[i]), result.leafHash)
            assertEquals(v.getString("public_key"), result.signer)
            assertTrue(result.errors.isEmpty())
        }
    }

    @Test
    fun unsignedBatchGivesReceiptsWithoutSignature() {
        val built = buildBatch(logs, params, null)
        assertEquals(null, built.signature)
        assertEquals(null, built.publicKey)
        assertEquals(v.getString("head_hash"), built.headHash)
        val result = verifyReceipt(built.receipts[0], null)
        assertTrue(result.valid, result.errors.toString())
        assertEquals(SignatureStatus.ABSENT, result.signature)
    }
}
