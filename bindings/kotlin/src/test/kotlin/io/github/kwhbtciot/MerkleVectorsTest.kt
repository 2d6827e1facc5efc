package io.github.kwhbtciot

import io.github.kwhbtciot.Vectors.b64ToHex
import io.github.kwhbtciot.Vectors.hexToBytes
import io.github.kwhbtciot.Vectors.objects
import io.github.kwhbtciot.Vectors.stringList
import io.github.kwhbtciot.Vectors.u64
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertDoesNotThrow
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.DynamicTest
import org.junit.jupiter.api.DynamicTest.dynamicTest
import org.junit.jupiter.api.TestFactory
import java.io.File

/** RFC 9162 trees: tests/vectors/merkle.json and transparency-dev's proof cases. */
class MerkleVectorsTest {
    private val vectors = Vectors.project("merkle.json")

    @TestFactory
    fun trees(): List<DynamicTest> = vectors.getJSONArray("trees").objects().map { t ->
        dynamicTest("tree ${t.getString("desc")}") {
            val leaves = t.stringList("leaf_hashes")
            val size = leaves.size.toULong()
            // Leaf hashes are SHA-256(0x00 || data), checked with the JDK.
            assertEquals(leaves, t.stringList("leaf_data_hex").map { Vectors.sha256(0x00, it.hexToBytes()) })
            val root = t.getString("root")
            assertEquals(root, merkleRoot(leaves))
            for (inc in t.getJSONArray("inclusion").objects()) {
                val index = inc.u64("index")
                val path = inc.stringList("path")
                assertEquals(path, inclusionProof(leaves, index), "inclusion path of $index")
                assertDoesNotThrow { verifyInclusion(leaves[index.toInt()], index, size, path, root) }
            }
            for (con in t.getJSONArray("consistency").objects()) {
                val oldSize = con.u64("old_size")
                val proof = con.stringList("proof")
                assertEquals(con.getString("old_root"), merkleRoot(leaves.take(oldSize.toInt())))
                assertEquals(proof, consistencyProof(leaves, oldSize), "consistency proof from $oldSize")
                if (oldSize > 0UL) {
                    assertDoesNotThrow { verifyConsistency(oldSize, size, con.getString("old_root"), root, proof) }
                }
            }
        }
    }

    @TestFactory
    fun verifyInclusionCases(): List<DynamicTest> = vectors.getJSONArray("verify_inclusion").objects().map { c ->
        dynamicTest("verify_inclusion ${c.getString("desc")}") {
            checkInclusion(
                c.getString("leaf_hash"), c.u64("index"), c.u64("size"),
                c.stringList("path"), c.getString("root"), c.getBoolean("want_err"),
            )
        }
    }

    @TestFactory
    fun verifyConsistencyCases(): List<DynamicTest> = vectors.getJSONArray("verify_consistency").objects().map { c ->
        dynamicTest("verify_consistency ${c.getString("desc")}") {
            checkConsistency(
                c.u64("size1"), c.u64("size2"), c.getString("root1"), c.getString("root2"),
                c.stringList("proof"), c.getBoolean("want_err"),
            )
        }
    }

    /**
     * transparency-dev/merkle testdata: every wantErr case must be rejected, the
     * others accepted; a hash that is not 32 bytes is rejected input whatever
     * wantErr says (the API takes 64-hex hashes), with code invalid_hex.
     */
    @TestFactory
    fun rfc9162Inclusion(): List<DynamicTest> = rfc9162Cases("inclusion").map { (name, c) ->
        dynamicTest("rfc9162 inclusion $name") {
            val leaf = b64ToHex(c.getString("leafHash"))
            val root = b64ToHex(c.getString("root"))
            val path = c.b64List("proof")
            val malformed = (path + leaf + root).any { it.length != 64 }
            if (malformed) {
                val e = assertThrows(KwhException.Merkle::class.java) {
                    verifyInclusion(leaf, c.u64("leafIdx"), c.u64("treeSize"), path, root)
                }
                assertEquals("invalid_hex", e.code)
            } else {
                checkInclusion(leaf, c.u64("leafIdx"), c.u64("treeSize"), path, root, c.getBoolean("wantErr"))
            }
        }
    }

    @TestFactory
    fun rfc9162Consistency(): List<DynamicTest> = rfc9162Cases("consistency").map { (name, c) ->
        dynamicTest("rfc9162 consistency $name") {
            val root1 = b64ToHex(c.getString("root1"))
            val root2 = b64ToHex(c.getString("root2"))
            val proof = c.b64List("proof")
            val malformed = (proof + root1 + root2).any { it.length != 64 }
            if (malformed) {
                val e = assertThrows(KwhException.Merkle::class.java) {
                    verifyConsistency(c.u64("size1"), c.u64("size2"), root1, root2, proof)
                }
                assertEquals("invalid_hex", e.code)
            } else {
                checkConsistency(c.u64("size1"), c.u64("size2"), root1, root2, proof, c.getBoolean("wantErr"))
            }
        }
    }

    private fun rfc9162Cases(kind: String): List<Pair<String, JSONObject>> {
        val dir = File(Vectors.thirdParty("rfc9162"), kind)
        val files = dir.walkTopDown().filter { it.isFile && it.name.endsWith(".json") }.sortedBy { it.path }.toList()
        check(files.isNotEmpty()) { "no RFC 9162 $kind cases in $dir" }
        return files.map { it.relativeTo(dir).path to JSONObject(it.readText()) }
    }

    private fun JSONObject.b64List(key: String): List<String> =
        if (isNull(key)) emptyList() else stringList(key).map(::b64ToHex)

    private fun checkInclusion(leaf: String, index: ULong, size: ULong, path: List<String>, root: String, wantErr: Boolean) {
        if (wantErr) {
            val e = assertThrows(KwhException.Merkle::class.java) { verifyInclusion(leaf, index, size, path, root) }
            assertTrue(e.code in setOf("invalid_proof", "index_out_of_range"), e.code)
            assertEquals(e.message, e.toString())
        } else {
            assertDoesNotThrow { verifyInclusion(leaf, index, size, path, root) }
        }
    }

    private fun checkConsistency(size1: ULong, size2: ULong, root1: String, root2: String, proof: List<String>, wantErr: Boolean) {
        if (wantErr) {
            val e = assertThrows(KwhException.Merkle::class.java) { verifyConsistency(size1, size2, root1, root2, proof) }
            assertEquals("invalid_proof", e.code)
        } else {
            assertDoesNotThrow { verifyConsistency(size1, size2, root1, root2, proof) }
        }
    }
}
