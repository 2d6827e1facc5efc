package io.github.kwhbtciot

import io.github.kwhbtciot.Vectors.objects
import io.github.kwhbtciot.Vectors.optStringOrNull
import io.github.kwhbtciot.Vectors.stringList
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.TestFactory

/** tests/vectors/receipts.json: valid receipts and tampered ones, with the codes they must produce. */
class ReceiptVectorsTest {
    @TestFactory
    fun receiptVectors(): List<DynamicTest> =
        Vectors.project("receipts.json").getJSONArray("cases").objects().mapIndexed { i, c ->
            dynamicTest("receipt[$i] ${c.getString("desc")}") {
                val v = verifyReceipt(c.getString("receipt"), c.optStringOrNull("gateway_key"))
                assertEquals(c.getBoolean("want_valid"), v.valid, v.errors.toString())
                assertEquals(c.stringList("want_errors"), v.errors.map { it.code })
                assertEquals(c.getString("want_signature"), v.signature.name.lowercase())
                c.optStringOrNull("want_leaf_hash")?.let { assertEquals(it, v.leafHash) }
                c.optStringOrNull("want_head_hash")?.let { assertEquals(it, v.headHash) }
                assertEquals(v.valid, v.errors.isEmpty())
                for (e in v.errors) {
                    assertFalse(e.message.isEmpty(), "error ${e.code} has no message")
                    e.member?.let { assertTrue(e.message.contains(it), "'${e.message}' does not name $it") }
                }
                // Steps: parse first; a failed step when invalid.
                assertEquals("parse", v.steps.first().name)
                if (!v.valid) assertTrue(v.steps.any { it.status == StepStatus.FAILED })
                // The JSON form says the same.
                val json = JSONObject(v.json)
                assertEquals(v.valid, json.getBoolean("valid"))
                assertEquals(v.errors.size, json.getJSONArray("errors").length())
                assertEquals(c.getString("want_signature"), json.getString("signature"))
            }
        }
}
