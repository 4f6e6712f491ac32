#!/usr/bin/env python3
"""Writes one 1024^3 SGEMM variant as a WGSL file for `cargo run --release --example gemm_lab`
and prints the file name and its workgroup grid. Each variant isolates one way of feeding the
multiply-adds on lavapipe (see BENCHMARKS.md, "What limits lavapipe"):

  ssbo TM TN      A and B from storage buffers, TM x TN outputs per invocation, 8 lanes
  sg TM TN        A shared across the subgroup by subgroupBroadcast (the engine's until session 10)
  alu TM TN       no loads in the loop: the arithmetic ceiling of the register tile
  ubo TM TN       A and B from uniform buffers (64 KiB windows: K indexes wrap at 16)
  ubo_a TM TN     A from a uniform buffer, B from a storage buffer
  tex TM TN       A (subgroupBroadcast) and B from r32float textures (run with TEX=1)
  tex4 TM TN      as tex, rgba32float texels, 4 columns a load (run with TEX=4)
  ssbo4 TM TN     as tex4 but array<vec4<f32>> storage buffers
  sgu TM TN       sg with k unrolled KU times (env, default 4), each accumulator taking its KU
                  multiply-adds in a row (aluu: the same with no loads), so that a spilled
                  accumulator is loaded and stored once per KU multiply-adds, not once per one;
                  ORDER=k keeps the KU steps but in k-major order (the engine's GEMM: sgu, KU=4)
  h8 TM TN        f16 storage, f32 accumulation (run with F16=1): A as f16 pairs along k
                  (u32, shared by subgroupBroadcast), B as 8 f16 columns a vec4<u32> load
"""
import os
import sys

N = 1024
# Lanes a workgroup: the subgroup size (8 for llvmpipe at 256 bits, 16 at LP_NATIVE_VECTOR_WIDTH=512).
WG = int(os.environ.get("WG", "8"))


def header(a, b):
    decl = {
        "ssbo": "var<storage, read> {n}: array<f32>;",
        "ssbo4": "var<storage, read> {n}: array<vec4<f32>>;",
        "ubo": "var<uniform> {n}: array<vec4<f32>, " + str(N * 16 // 4) + ">;",
        "tex": "var {n}: texture_2d<f32>;",
    }
    s = f"const N: u32 = {N}u;\n"
    s += "@group(0) @binding(1) " + decl[a].format(n="a") + "\n"
    s += "@group(0) @binding(2) " + decl[b].format(n="b") + "\n"
    s += "@group(0) @binding(4) var<storage, read_write> c: array<f32>;\n"
    s += f"@compute @workgroup_size({WG})\n"
    s += "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n"
    return s


def store_tile(tm, tn):
    """Closes the k loop and stores the scalar accumulators acc{i}_{j}."""
    s = "  }\n"
    for i in range(tm):
        for j in range(tn):
            s += f"  c[(m0 + {i}u) * N + n0 + {j}u] = acc{i}_{j};\n"
    return s + "}\n"


def scalar_kernel(kind, tm, tn):
    """Every variant with one f32 per load; lane l owns columns n0 .. n0 + tn."""
    mode_a = {"ssbo": "ssbo", "sg": "ssbo", "alu": "ssbo", "ubo": "ubo", "ubo_a": "ubo", "tex": "tex"}[kind]
    mode_b = {"ubo": "ubo", "tex": "tex"}.get(kind, "ssbo")
    s = header(mode_a, mode_b)
    s += f"  let m0 = wid.y * {tm}u;\n  let n0 = (wid.x * {WG}u + lid.x) * {tn}u;\n"
    for i in range(tm):
        for j in range(tn):
            s += f"  var acc{i}_{j} = 0.0;\n"
    wrap = kind in ("ubo", "ubo_a")

    if kind == "alu":
        for j in range(tn):
            s += f"  var b{j} = b[n0 + {j}u];\n"
        for i in range(tm):
            s += f"  let a{i} = a[(m0 + {i}u) * N];\n"
    s += "  for (var k = 0u; k < N; k++) {\n"
    kk = "(k & 15u)" if wrap else "k"
    for j in range(tn):
        if kind == "alu":
            s += f"    b{j} = b{j} * 0.999;\n"
        elif mode_b == "ubo":
            s += f"    let bi{j} = {kk} * N + n0 + {j}u;\n    let b{j} = b[bi{j} >> 2u][bi{j} & 3u];\n"
        elif mode_b == "tex":
            s += f"    let b{j} = textureLoad(b, vec2<u32>(n0 + {j}u, k), 0).x;\n"
        else:
            s += f"    let b{j} = b[{kk} * N + n0 + {j}u];\n"
    if kind in ("sg", "tex"):
        for q in range(tm // WG):
            if kind == "tex":
                s += f"    let av{q} = textureLoad(a, vec2<u32>(k, m0 + {q * WG}u + lid.x), 0).x;\n"
            else:
                s += f"    let av{q} = a[(m0 + {q * WG}u + lid.x) * N + k];\n"
    for i in range(tm):
        if kind in ("sg", "tex"):
            s += f"    let a{i} = subgroupBroadcast(av{i // WG}, {i % WG}u);\n"
        elif mode_a == "ubo":
            s += f"    let ai{i} = (m0 + {i}u) * 16u + {kk};\n    let a{i} = a[ai{i} >> 2u][ai{i} & 3u];\n"
        elif kind != "alu":
            s += f"    let a{i} = a[(m0 + {i}u) * N + k];\n"
        for j in range(tn):
            s += f"    acc{i}_{j} = fma(a{i}, b{j}, acc{i}_{j});\n"
    return s + store_tile(tm, tn), (N // (WG * tn), N // tm)


def unrolled_kernel(kind, tm, tn):
    """sgu / aluu: KU steps of k a loop iteration, the multiply-adds ordered accumulator-major."""
    ku = int(os.environ.get("KU", "4"))
    s = header("ubo" if kind == "ubu" else "ssbo", "ssbo")
    s += f"  let m0 = wid.y * {tm}u;\n  let n0 = (wid.x * {WG}u + lid.x) * {tn}u;\n"
    for i in range(tm):
        for j in range(tn):
            s += f"  var acc{i}_{j} = 0.0;\n"
    if kind == "aluu":
        for u in range(ku):
            for j in range(tn):
                s += f"  var b{u}_{j} = b[n0 + {u * tn + j}u];\n"
            for q in range(tm // WG):
                s += f"  let av{u}_{q} = a[(m0 + {q * WG}u + lid.x) * N + {u}u];\n"
    s += f"  for (var k = 0u; k < N; k += {ku}u) {{\n"
    for u in range(ku):
        for j in range(tn):
            if kind == "aluu":
                s += f"    b{u}_{j} = b{u}_{j} * 0.999;\n"
            else:
                s += f"    let b{u}_{j} = b[(k + {u}u) * N + n0 + {j}u];\n"
        if kind == "sgu":
            for q in range(tm // WG):
                s += f"    let av{u}_{q} = a[(m0 + {q * WG}u + lid.x) * N + k + {u}u];\n"
    if os.environ.get("ORDER") == "k":  # k-major, as KU loop iterations would be
        for u in range(ku):
            for i in range(tm):
                s += f"    let a{u}_{i} = subgroupBroadcast(av{u}_{i // WG}, {i % WG}u);\n"
                for j in range(tn):
                    s += f"    acc{i}_{j} = fma(a{u}_{i}, b{u}_{j}, acc{i}_{j});\n"
    else:
        for i in range(tm):
            for u in range(ku):
                if kind == "ubu":
                    s += f"    let ai{u}_{i} = (m0 + {i}u) * 16u + ((k + {u}u) & 15u);\n"
                    s += f"    let a{u}_{i} = a[ai{u}_{i} >> 2u][ai{u}_{i} & 3u];\n"
                else:
                    s += f"    let a{u}_{i} = subgroupBroadcast(av{u}_{i // WG}, {i % WG}u);\n"
            for j in range(tn):
                for u in range(ku):
                    s += f"    acc{i}_{j} = fma(a{u}_{i}, b{u}_{j}, acc{i}_{j});\n"
    return s + store_tile(tm, tn), (N // (WG * tn), N // tm)


def vec4_kernel(kind, tm, tn):
    """tex4 / ssbo4: B loads bring 4 columns, A loads 4 k values (shared by subgroupBroadcast)."""
    tn4 = tn // 4
    mode = "tex" if kind == "tex4" else "ssbo4"
    s = header(mode, mode)
    s += f"  let m0 = wid.y * {tm}u;\n  let q0 = (wid.x * {WG}u + lid.x) * {tn4}u;\n"
    for i in range(tm):
        for j in range(tn4):
            s += f"  var acc{i}_{j} = vec4<f32>();\n"
    s += "  for (var k4 = 0u; k4 < N / 4u; k4++) {\n"
    for q in range(tm // WG):
        if mode == "tex":
            s += f"    let av{q} = textureLoad(a, vec2<u32>(k4, m0 + {q * WG}u + lid.x), 0);\n"
        else:
            s += f"    let av{q} = a[(m0 + {q * WG}u + lid.x) * (N / 4u) + k4];\n"
    for kk, comp in enumerate("xyzw"):
        for j in range(tn4):
            if mode == "tex":
                s += f"    let b{kk}_{j} = textureLoad(b, vec2<u32>(q0 + {j}u, k4 * 4u + {kk}u), 0);\n"
            else:
                s += f"    let b{kk}_{j} = b[(k4 * 4u + {kk}u) * (N / 4u) + q0 + {j}u];\n"
        for i in range(tm):
            s += f"    let a{kk}_{i} = subgroupBroadcast(av{i // WG}.{comp}, {i % WG}u);\n"
            for j in range(tn4):
                s += f"    acc{i}_{j} = fma(vec4<f32>(a{kk}_{i}), b{kk}_{j}, acc{i}_{j});\n"
    s += "  }\n"
    for i in range(tm):
        for j in range(tn4):
            for e, comp in enumerate("xyzw"):
                s += f"  c[(m0 + {i}u) * N + (q0 + {j}u) * 4u + {e}u] = acc{i}_{j}.{comp};\n"
    return s + "}\n", (N // (WG * tn), N // tm)


def f16_kernel(tm, tn):
    """h8: every load brings two (A) or eight (B) f16 values, unpacked to f32 for the fma."""
    tn8 = tn // 8
    s = f"const N: u32 = {N}u;\n"
    s += "@group(0) @binding(1) var<storage, read> a: array<u32>;\n"
    s += "@group(0) @binding(2) var<storage, read> b: array<vec4<u32>>;\n"
    s += "@group(0) @binding(4) var<storage, read_write> c: array<f32>;\n"
    s += f"@compute @workgroup_size({WG})\n"
    s += "fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n"
    s += f"  let m0 = wid.y * {tm}u;\n  let q0 = (wid.x * {WG}u + lid.x) * {tn8}u;\n"
    for i in range(tm):
        for j in range(tn8):
            s += f"  var lo{i}_{j} = vec4<f32>();\n  var hi{i}_{j} = vec4<f32>();\n"
    s += "  for (var k2 = 0u; k2 < N / 2u; k2++) {\n"
    for q in range(tm // WG):
        s += f"    let av{q} = unpack2x16float(a[(m0 + {q * WG}u + lid.x) * (N / 2u) + k2]);\n"
    for kk, comp in enumerate("xy"):
        for j in range(tn8):
            s += f"    let w{kk}_{j} = b[(k2 * 2u + {kk}u) * (N / 8u) + q0 + {j}u];\n"
            s += f"    let bl{kk}_{j} = vec4<f32>(unpack2x16float(w{kk}_{j}.x), unpack2x16float(w{kk}_{j}.y));\n"
            s += f"    let bh{kk}_{j} = vec4<f32>(unpack2x16float(w{kk}_{j}.z), unpack2x16float(w{kk}_{j}.w));\n"
        for i in range(tm):
            s += f"    let a{kk}_{i} = vec4<f32>(subgroupBroadcast(av{i // WG}.{comp}, {i % WG}u));\n"
            for j in range(tn8):
                s += f"    lo{i}_{j} = fma(a{kk}_{i}, bl{kk}_{j}, lo{i}_{j});\n"
                s += f"    hi{i}_{j} = fma(a{kk}_{i}, bh{kk}_{j}, hi{i}_{j});\n"
    s += "  }\n"
    for i in range(tm):
        for j in range(tn8):
            for e in range(8):
                half, comp = ("lo", "xyzw"[e]) if e < 4 else ("hi", "xyzw"[e - 4])
                s += f"  c[(m0 + {i}u) * N + (q0 + {j}u) * 8u + {e}u] = {half}{i}_{j}.{comp};\n"
    return s + "}\n", (N // (WG * tn), N // tm)


def main():
    kind, tm, tn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    if kind in ("tex4", "ssbo4"):
        src, grid = vec4_kernel(kind, tm, tn)
    elif kind in ("sgu", "aluu", "ubu"):
        src, grid = unrolled_kernel(kind, tm, tn)
    elif kind == "h8":
        src, grid = f16_kernel(tm, tn)
    else:
        src, grid = scalar_kernel(kind, tm, tn)
    name = f"{kind}_{tm}x{tn}.wgsl" if kind not in ("sgu", "aluu", "ubu") else f"{kind}{os.environ.get('KU', '4')}{os.environ.get('ORDER', '')}_{tm}x{tn}.wgsl"
    with open(name, "w") as f:
        f.write(src)
    print(name, grid[0], grid[1])


if __name__ == "__main__":
    main()
