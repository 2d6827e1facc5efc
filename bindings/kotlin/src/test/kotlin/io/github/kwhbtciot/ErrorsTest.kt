package io.github.kwhbtciot

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/**
 * Exceptions: the class is the core's error family, `code`/`member` are the
 * shared ones, and `message` (also `toString()`) is the core's message
 * verbatim. Messages are pinned here on purpose: a changed text is a visible
 * change for every app that shows it.
 */
class ErrorsTest {
    private val log = Vectors.foundingExample()
    private val params = BatchParams("gw-1", "batch-1", 1UL, null, "2025-12-01T10:20:00Z")
    private val seed = "07".repeat(32)

    private inline fun <reified T : KwhException> assertKwh(
        code: String,
        member: String?,
        message: String,
        noinline call: () -> Unit,
    ): T {
        val e = assertThrows(T::class.java) { call() }
        assertEquals(T::class.java, e.javaClass)
        assertEquals(code, e.code)
        assertEquals(member, e.member)
        assertEquals(message, e.message)
        assertEquals(message, e.toString())
        assertEquals(message, e.localizedMessage)
        return e
    }

    @Test
    fun malformedReceiptIsAnInvalidResultNotAnException() {
        val v = verifyReceipt("{\"receipt_version\": \"emreceipt-1\",", null)
        assertFalse(v.valid)
        assertEquals(listOf("invalid_json"), v.errors.map { it.code })
        assertTrue(v.errors[0].message.startsWith("invalid JSON at byte "), v.errors[0].message)
        assertEquals(SignatureStatus.NOT_CHECKED, v.signature)
        assertNull(v.leafHash)
        assertNull(v.headHash)
        assertEquals(StepStatus.FAILED, v.steps[0].status)
        assertTrue(v.steps.drop(1).all { it.status == StepStatus.SKIPPED }, v.steps.toString())
    }

    @Test
    fun emptyAndNonObjectReceiptsAreInvalidResults() {
        for (input in listOf("", "[]", "null", "{}", "\"receipt\"")) {
            val v = verifyReceipt(input, null)
            assertFalse(v.valid, input)
            assertFalse(v.errors.isEmpty(), input)
        }
    }

    @Test
    fun malformedGatewayKeyThrowsCrypto() {
        val receipt = buildBatch(listOf(log), params, seed).receipts[0]
        assertKwh<KwhException.Crypto>("invalid_key", "gateway_key", "gateway_key: must be 64 lowercase hex characters") {
            verifyReceipt(receipt, "not-a-key")
        }
    }

    @Test
    fun duplicateMemberIsJson() {
        assertKwh<KwhException.Json>(
            "duplicate_member", "a",
            "a: member name appears more than once in the object (I-JSON forbids duplicates)",
        ) { canonicalizeJson("{\"a\":1,\"a\":2}") }
    }

    @Test
    fun invalidJsonNamesTheByte() {
        val e = assertThrows(KwhException.Json::class.java) { leafHash("{\"schema_version\":") }
        assertEquals("invalid_json", e.code)
        assertNull(e.member)
        assertTrue(e.message.startsWith("invalid JSON at byte 18: "), e.message)
    }

    @Test
    fun invalidLogInABatchNamesItsIndex() {
        val bad = log.replace("\"channel\": \"ln\"", "\"channel\": \"lightning\"")
        assertKwh<KwhException.Validation>(
            "invalid_value", "[1].tx.channel",
            "log 1: tx.channel: must be one of ln, onchain, none, got \"lightning\"",
        ) { buildBatch(listOf(log, bad), params, seed) }
    }

    @Test
    fun emptyBatchIsMerkle() {
        assertKwh<KwhException.Merkle>("empty_batch", null, "a batch needs at least one log") {
            buildBatch(emptyList(), params, seed)
        }
    }

    @Test
    fun badCreatedAtIsValidation() {
        assertKwh<KwhException.Validation>(
            "invalid_timestamp", "created_at",
            "created_at: is not an RFC 3339 date-time (YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm))",
        ) { buildBatch(listOf(log), params.copy(createdAt = "2025-12-01 10:20"), seed) }
    }

    @Test
    fun prevHeadHashRequiredAfterTheFirstBatch() {
        assertKwh<KwhException.Validation>(
            "invalid_value", "prev_head_hash",
            "prev_head_hash: must be given exactly when seq is greater than 1",
        ) { buildBatch(listOf(log), params.copy(seq = 2UL), seed) }
    }

    @Test
    fun wrongRootIsMerkleInvalidProof() {
        val leaves = (0 until 5).map { Vectors.sha256(0x00, byteArrayOf(it.toByte())) }
        val root = merkleRoot(leaves)
        val path = inclusionProof(leaves, 3UL)
        val wrongRoot = leaves[0]
        val got = merkleRoot(leaves.take(0)) // any other value: prove the message names both roots
        assertEquals("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", got)
        assertKwh<KwhException.Merkle>(
            "invalid_proof", "inclusion_path", "inclusion_path: leads to root $root instead of $wrongRoot",
        ) { verifyInclusion(leaves[3], 3UL, 5UL, path, wrongRoot) }
        assertKwh<KwhException.Merkle>(
            "index_out_of_range", "leaf_index", "leaf_index: must be less than the tree size 5, got 5",
        ) { verifyInclusion(leaves[3], 5UL, 5UL, path, root) }
    }

    @Test
    fun badHexNamesTheListPosition() {
        assertKwh<KwhException.Merkle>(
            "invalid_hex", "leaf_hashes[1]", "leaf_hashes[1]: must be 64 lowercase hex characters, got 3 characters",
        ) { merkleRoot(listOf("00".repeat(32), "abc")) }
    }

    @Test
    fun everyVariantIsAKwhExceptionAndAnException() {
        val e: Exception = assertThrows(KwhException::class.java) { canonicalize("[]") }
        assertTrue(e is KwhException.Validation, e.javaClass.name)
        assertEquals("invalid_type", (e as KwhException).code)
    }
}
