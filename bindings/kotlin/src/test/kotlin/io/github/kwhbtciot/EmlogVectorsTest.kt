package io.github.kwhbtciot

import io.github.kwhbtciot.Vectors.optStringOrNull
import io.github.kwhbtciot.Vectors.stringList
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.TestFactory

/** tests/vectors/emlog.json: every accepted and every rejected log. */
class EmlogVectorsTest {
    @TestFactory
    fun emlogVectors(): List<DynamicTest> =
        Vectors.project("emlog.json").getJSONArray("cases").let { cases ->
            (0 until cases.length()).map { i ->
                val c = cases.getJSONObject(i)
                dynamicTest("emlog[$i] ${c.getString("desc")}") {
                    val input = c.getString("input")
                    val wantErr = c.optStringOrNull("want_err")
                    if (wantErr != null) {
                        assertRejected(input, wantErr, c.optStringOrNull("want_member"))
                    } else {
                        assertAccepted(input, c.getString("canonical"), c.getString("leaf_hash"), c.stringList("warnings"))
                    }
                }
            }
        }

    private fun assertAccepted(input: String, canonical: String, leafHash: String, warnings: List<String>) {
        assertEquals(canonical, canonicalize(input))
        assertEquals(leafHash, leafHash(input))
        val n = normalize(input)
        assertEquals(canonical, n.canonicalJson)
        assertEquals(leafHash, n.leafHash)
        assertEquals(warnings, n.warnings.map { it.code })
        // The leaf hash is SHA-256(0x00 || canonical bytes): checked with the JDK too.
        assertEquals(leafHash, Vectors.sha256(0x00, canonical.toByteArray(Charsets.UTF_8)))
        // The normalized log is a fixed point.
        assertEquals(canonical, canonicalize(n.canonicalJson))
        assertEquals("emlog-1.1", n.log.schemaVersion)
        assertEquals("sats", n.log.tx.unit)
    }

    private fun assertRejected(input: String, code: String, member: String?) {
        val expectedClass = FAMILY_OF_CODE[code] ?: error("unknown error code $code in the vectors")
        for (call in listOf<(String) -> Any>(::leafHash, ::canonicalize, ::normalize)) {
            val e = assertThrows(KwhException::class.java) { call(input) }
            assertEquals(expectedClass, e.javaClass, "exception class for $code")
            assertEquals(code, e.code)
            assertEquals(member, e.member)
            val message = e.message
            assertTrue(!message.isNullOrEmpty(), "message is empty")
            // Throwable.message, toString() (Rust Display) and the field agree.
            assertEquals(message, e.toString())
            if (member != null) {
                assertTrue(message!!.contains(member), "message '$message' does not name member $member")
            }
        }
    }
}
