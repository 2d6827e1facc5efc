package io.github.kwhbtciot

import io.github.kwhbtciot.Vectors.optStringOrNull
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.TestFactory
import java.io.File

/** RFC 8785: tests/vectors/jcs.json and the reference implementation's input/output pairs. */
class JcsVectorsTest {
    @TestFactory
    fun projectVectors(): List<DynamicTest> =
        Vectors.project("jcs.json").getJSONArray("cases").let { cases ->
            (0 until cases.length()).map { i ->
                val c = cases.getJSONObject(i)
                dynamicTest("jcs[$i] ${c.getString("desc")}") {
                    val input = c.getString("input")
                    val wantErr = c.optStringOrNull("want_err")
                    if (wantErr != null) {
                        val e = assertThrows(KwhException::class.java) { canonicalizeJson(input) }
                        assertEquals(FAMILY_OF_CODE[wantErr], e.javaClass)
                        assertEquals(wantErr, e.code)
                        assertEquals(e.message, e.toString())
                    } else {
                        val canonical = canonicalizeJson(input)
                        assertEquals(c.getString("canonical"), canonical)
                        assertEquals(canonical, canonicalizeJson(canonical), "canonical form is a fixed point")
                    }
                }
            }
        }

    @TestFactory
    fun referenceImplementationPairs(): List<DynamicTest> {
        val dir = Vectors.thirdParty("jcs")
        val inputs = File(dir, "input").listFiles { f -> f.name.endsWith(".json") }!!.sortedBy { it.name }
        check(inputs.isNotEmpty()) { "no JCS inputs in $dir" }
        return inputs.map { input ->
            dynamicTest("jcs reference ${input.name}") {
                val want = File(dir, "output/${input.name}").readBytes()
                val got = canonicalizeJson(input.readText(Charsets.UTF_8)).toByteArray(Charsets.UTF_8)
                assertEquals(String(want, Charsets.UTF_8), String(got, Charsets.UTF_8))
                assertArrayEquals(want, got, "bytes differ for ${input.name}")
            }
        }
    }
}
