using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace HikShareGateway.Core.Crypto;

public sealed partial class AeadCipher
{
    /// <summary>
    /// One AES-GCM key for intel-ipsec-mb: its <c>gcm_key_data</c> (the round keys and the GHASH key powers, 64-byte
    /// aligned, as the library requires) and a <c>gcm_context_data</c> for the call in flight, in one native block that
    /// is cleared before it is freed (after the last call using it returns).
    /// </summary>
    private sealed class IpsecMbKey : SafeHandle
    {
        // struct gcm_key_data is 1,024 bytes in 1.3 (240 of round keys, 768 of hash keys for the VAES path, aligned
        // to 64); struct gcm_context_data 88. Twice that room, so that a later layout cannot write past the block.
        private const int KeyDataBytes = 2048;
        private const int ContextBytes = 256;
        private const int BlockBytes = KeyDataBytes + ContextBytes;

        private IpsecMbKey() : base(0, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == 0;

        private bool _aes256;

        public static unsafe IpsecMbKey Create(ReadOnlySpan<byte> key)
        {
            var block = NativeMemory.AlignedAlloc(BlockBytes, 64);
            NativeMemory.Clear(block, BlockBytes);
            var state = new IpsecMbKey { _aes256 = key.Length == 32 };
            state.SetHandle((nint)block);
            fixed (byte* k = key)
            {
                // Round keys and the hash key's powers, once per key.
                if (state._aes256)
                {
                    IpsecMbApi.Pre256(k, block);
                }
                else
                {
                    IpsecMbApi.Pre128(k, block);
                }
            }
            return state;
        }

        /// <summary>
        /// One AES-GCM operation: ciphertext (or plaintext) into <paramref name="output"/> and the tag computed over
        /// the ciphertext into <paramref name="tag"/> (the caller compares it on decryption).
        /// </summary>
        public unsafe void Run(bool encrypt, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> input, Span<byte> output, Span<byte> tag,
            ReadOnlySpan<byte> associatedData)
        {
            var added = false;
            DangerousAddRef(ref added);
            try
            {
                var block = (byte*)handle;
                var context = block + KeyDataBytes;
                // The library takes no null buffer, even for zero bytes.
                byte none = 0;
                fixed (byte* iv = nonce)
                fixed (byte* aadPointer = associatedData)
                fixed (byte* inPointer = input)
                fixed (byte* outPointer = output)
                fixed (byte* t = tag)
                {
                    var aad = aadPointer == null ? &none : aadPointer;
                    var inp = inPointer == null ? &none : inPointer;
                    var outp = outPointer == null ? &none : outPointer;
                    var run = (encrypt, _aes256) switch
                    {
                        (true, false) => IpsecMbApi.Enc128,
                        (true, true) => IpsecMbApi.Enc256,
                        (false, false) => IpsecMbApi.Dec128,
                        (false, true) => IpsecMbApi.Dec256,
                    };
                    run(block, context, outp, inp, (ulong)input.Length, iv, aad, (ulong)associatedData.Length, t, TagSize);
                }
                // The counter block and the partial keystream of this call: nothing of it is needed after it.
                NativeMemory.Clear(context, ContextBytes);
            }
            finally
            {
                if (added)
                {
                    DangerousRelease();
                }
            }
        }

        protected override unsafe bool ReleaseHandle()
        {
            CryptographicOperations.ZeroMemory(new Span<byte>((void*)handle, BlockBytes));
            NativeMemory.AlignedFree((void*)handle);
            return true;
        }
    }

    /// <summary>
    /// intel-ipsec-mb's AES-GCM functions for one code path, bound once. The library exports each path under its own
    /// name (<c>aes_gcm_enc_128_vaes_avx512</c>, <c>…_avx_gen4</c>, …); the path is the one its own
    /// <c>init_mb_mgr_auto</c> picks for this CPU and OS. Not the manager's function table: its layout changes between
    /// versions, the exported names do not.
    /// </summary>
    private static unsafe class IpsecMbApi
    {
        // IMB_FEATURE_* and IMB_ARCH of intel-ipsec-mb.h.
        private const ulong FeatureVaes = 1UL << 12, FeatureVpclMulQdq = 1UL << 13;
        private const int ArchSse = 2, ArchAvx = 3, ArchAvx2 = 4, ArchAvx512 = 5;

        public static readonly bool Available;
        /// <summary>The version and code path, or why it is not used.</summary>
        public static readonly string Description = "libIPSec_MB.so.1 not loaded";

        public static readonly delegate* unmanaged<byte*, void*, void> Pre128;
        public static readonly delegate* unmanaged<byte*, void*, void> Pre256;
        public static readonly delegate* unmanaged<void*, void*, byte*, byte*, ulong, byte*, byte*, ulong, byte*, ulong, void> Enc128;
        public static readonly delegate* unmanaged<void*, void*, byte*, byte*, ulong, byte*, byte*, ulong, byte*, ulong, void> Enc256;
        public static readonly delegate* unmanaged<void*, void*, byte*, byte*, ulong, byte*, byte*, ulong, byte*, ulong, void> Dec128;
        public static readonly delegate* unmanaged<void*, void*, byte*, byte*, ulong, byte*, byte*, ulong, byte*, ulong, void> Dec256;

        static IpsecMbApi()
        {
            if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            {
                Description = "not x86-64";
                return;
            }
            if (!NativeLibrary.TryLoad("libIPSec_MB.so.1", out var lib))
            {
                Description = "libIPSec_MB.so.1 not installed (Debian: libipsec-mb1)";
                return;
            }
            if (!NativeLibrary.TryGetExport(lib, "imb_get_feature_flags", out var flagsExport)
                || !NativeLibrary.TryGetExport(lib, "imb_get_version_str", out var versionExport)
                || !NativeLibrary.TryGetExport(lib, "alloc_mb_mgr", out var allocExport)
                || !NativeLibrary.TryGetExport(lib, "init_mb_mgr_auto", out var initExport)
                || !NativeLibrary.TryGetExport(lib, "free_mb_mgr", out var freeExport))
            {
                Description = "libIPSec_MB.so.1 without its manager functions";
                return;
            }
            var version = Marshal.PtrToStringUTF8(((delegate* unmanaged<nint>)versionExport)()) ?? "?";
            // The library's own choice of code path for this CPU and OS (init_mb_mgr_auto, as DPDK uses it: not the
            // runtime's IsSupported, which NativeAOT fixes at compile time), read once from a manager freed at once.
            var manager = ((delegate* unmanaged<ulong, nint>)allocExport)(0);
            if (manager == 0)
            {
                Description = $"{version}: alloc_mb_mgr failed";
                return;
            }
            var arch = 0;
            ((delegate* unmanaged<nint, int*, void>)initExport)(manager, &arch);
            ((delegate* unmanaged<nint, void>)freeExport)(manager);
            var features = ((delegate* unmanaged<ulong>)flagsExport)();
            // Its AVX-512 manager runs the VAES code for GCM when the CPU has VAES and VPCLMULQDQ.
            var path = arch switch
            {
                ArchAvx512 => (features & (FeatureVaes | FeatureVpclMulQdq)) == (FeatureVaes | FeatureVpclMulQdq) ? "vaes_avx512" : "avx512",
                ArchAvx2 => "avx_gen4",
                ArchAvx => "avx_gen2",
                ArchSse => "sse",
                _ => null, // no AES-NI: its emulation is slower than OpenSSL
            };
            if (path is null)
            {
                Description = $"{version}: no AES-NI code path for this CPU";
                return;
            }
            if (!NativeLibrary.TryGetExport(lib, $"aes_gcm_pre_128_{path}", out var pre128)
                || !NativeLibrary.TryGetExport(lib, $"aes_gcm_pre_256_{path}", out var pre256)
                || !NativeLibrary.TryGetExport(lib, $"aes_gcm_enc_128_{path}", out var enc128)
                || !NativeLibrary.TryGetExport(lib, $"aes_gcm_enc_256_{path}", out var enc256)
                || !NativeLibrary.TryGetExport(lib, $"aes_gcm_dec_128_{path}", out var dec128)
                || !NativeLibrary.TryGetExport(lib, $"aes_gcm_dec_256_{path}", out var dec256))
            {
                Description = $"{version}: the {path} AES-GCM functions are not exported";
                return;
            }
            Pre128 = (delegate* unmanaged<byte*, void*, void>)pre128;
            Pre256 = (delegate* unmanaged<byte*, void*, void>)pre256;
            Enc128 = (delegate* unmanaged<void*, void*, byte*, byte*, ulong, byte*, byte*, ulong, byte*, ulong, void>)enc128;
            Enc256 = (delegate* unmanaged<void*, void*, byte*, byte*, ulong, byte*, byte*, ulong, byte*, ulong, void>)enc256;
            Dec128 = (delegate* unmanaged<void*, void*, byte*, byte*, ulong, byte*, byte*, ulong, byte*, ulong, void>)dec128;
            Dec256 = (delegate* unmanaged<void*, void*, byte*, byte*, ulong, byte*, byte*, ulong, byte*, ulong, void>)dec256;
            Description = $"{version} {path}";
            Available = SelfTest();
            if (!Available)
            {
                Description = $"{version} {path}: failed its known-answer test";
            }
        }

        /// <summary>
        /// The GCM spec's test case 4 through the chosen path before anything relies on it (a library built for
        /// another layout would fail here, not on a viewer's stream).
        /// </summary>
        private static bool SelfTest()
        {
            ReadOnlySpan<byte> key = [0xfe, 0xff, 0xe9, 0x92, 0x86, 0x65, 0x73, 0x1c, 0x6d, 0x6a, 0x8f, 0x94, 0x67, 0x30, 0x83, 0x08];
            ReadOnlySpan<byte> iv = [0xca, 0xfe, 0xba, 0xbe, 0xfa, 0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88];
            ReadOnlySpan<byte> aad = [0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef, 0xab, 0xad, 0xda, 0xd2];
            ReadOnlySpan<byte> expectedTag = [0x5b, 0xc9, 0x4f, 0xbc, 0x32, 0x21, 0xa5, 0xdb, 0x94, 0xfa, 0xe9, 0x5a, 0xe7, 0x12, 0x1a, 0x47];
            var plaintext = Convert.FromHexString(
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
            try
            {
                using var state = IpsecMbKey.Create(key);
                var ciphertext = new byte[plaintext.Length];
                Span<byte> tag = stackalloc byte[TagSize];
                state.Run(encrypt: true, iv, plaintext, ciphertext, tag, aad);
                if (!tag.SequenceEqual(expectedTag) || ciphertext[0] != 0x42 || ciphertext[^1] != 0x91)
                {
                    return false;
                }
                var back = new byte[plaintext.Length];
                state.Run(encrypt: false, iv, ciphertext, back, tag, aad);
                return back.AsSpan().SequenceEqual(plaintext) && tag.SequenceEqual(expectedTag);
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or InvalidOperationException)
            {
                return false;
            }
        }
    }
}
