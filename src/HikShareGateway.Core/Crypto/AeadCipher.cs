using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace HikShareGateway.Core.Crypto;

/// <summary>The AEADs the record layers use (TLS, SRTP): 12-byte nonces, 16-byte tags.</summary>
public enum AeadAlgorithm
{
    /// <summary>AES-GCM; the key length (16 or 32 bytes) chooses AES-128 or AES-256.</summary>
    AesGcm,
    ChaCha20Poly1305,
}

/// <summary>Which code seals and opens: <see cref="AeadCipher.Engine"/>.</summary>
public enum AeadEngine
{
    /// <summary>The fastest this machine has: intel-ipsec-mb for AES-GCM, else OpenSSL's EVP, else the framework.</summary>
    Fastest,
    /// <summary>Intel's Multi-Buffer Crypto for IPsec library (Debian's <c>libipsec-mb1</c>), AES-GCM only.</summary>
    IpsecMb,
    /// <summary>OpenSSL 3's EVP interface, called directly.</summary>
    OpenSsl,
    /// <summary>The framework's <see cref="System.Security.Cryptography.AesGcm"/> / <see cref="System.Security.Cryptography.ChaCha20Poly1305"/>.</summary>
    Framework,
}

/// <summary>
/// One AEAD key for the per-record work of RTSPS and SRTP: <see cref="Encrypt"/> and <see cref="Decrypt"/> with the
/// semantics of the framework's <see cref="System.Security.Cryptography.AesGcm"/> and
/// <see cref="System.Security.Cryptography.ChaCha20Poly1305"/> (same outputs, same exceptions), through the fastest
/// native code the machine has (<see cref="Engine"/>):
/// <list type="bullet">
/// <item>AES-GCM: Intel's Multi-Buffer Crypto for IPsec library (<c>libIPSec_MB.so.1</c>, Debian's
/// <c>libipsec-mb1</c>, the library DPDK uses) when it loads, with the code path for this CPU chosen once (VAES and
/// VPCLMULQDQ on 512-bit registers where the CPU has them, else AVX2, AVX or SSE with AES-NI): one call per record. On
/// this machine's AVX-512 CPU a 16 KiB record costs ~0.8 µs, against ~3.4 µs through OpenSSL 3.0, which has no VAES
/// code for GCM (<c>bench aead</c>).</item>
/// <item>Else, and for ChaCha20-Poly1305: OpenSSL 3's EVP interface directly (<c>libcrypto.so.3</c>): the framework's
/// classes run the same OpenSSL code but cost ~1.2–2 µs more per call (their interop sets the nonce length and clears
/// OpenSSL's error queue on every call and takes the handle's reference count once per native call).</item>
/// <item>Else (another OS, another libcrypto) the framework's classes.</item>
/// </list>
/// The key schedule is made once; per call only the nonce is set. One thread at a time per instance;
/// <see cref="Dispose"/> from another thread is safe (the native state is reference counted and freed after the call in
/// flight).
/// </summary>
public sealed partial class AeadCipher : IDisposable
{
    public const int NonceSize = 12;
    public const int TagSize = 16;

    private readonly IpsecMbKey? _mb;
    private readonly EvpContext? _evp;
    private readonly System.Security.Cryptography.AesGcm? _aes;
    private readonly System.Security.Cryptography.ChaCha20Poly1305? _chacha;

    /// <param name="engine">
    /// <see cref="AeadEngine.Fastest"/> unless a test or bench compares them; an engine this machine or algorithm does
    /// not have throws <see cref="PlatformNotSupportedException"/>.
    /// </param>
    public AeadCipher(AeadAlgorithm algorithm, ReadOnlySpan<byte> key, AeadEngine engine = AeadEngine.Fastest)
    {
        var cipher = algorithm switch
        {
            AeadAlgorithm.AesGcm when key.Length is 16 or 32 => key.Length == 16 ? EvpApi.Aes128Gcm : EvpApi.Aes256Gcm,
            AeadAlgorithm.ChaCha20Poly1305 when key.Length == 32 => EvpApi.ChaCha20Poly1305,
            _ => throw new ArgumentException($"a {key.Length}-byte key does not fit {algorithm}", nameof(key)),
        };
        Algorithm = algorithm;
        var ipsecMb = algorithm == AeadAlgorithm.AesGcm && IpsecMbApi.Available;
        var openSsl = EvpApi.Available && cipher != 0;
        Engine = engine switch
        {
            AeadEngine.Fastest => ipsecMb ? AeadEngine.IpsecMb : openSsl ? AeadEngine.OpenSsl : AeadEngine.Framework,
            AeadEngine.IpsecMb when !ipsecMb => throw new PlatformNotSupportedException(
                $"intel-ipsec-mb ({IpsecMbApi.Description}) cannot run {algorithm}"),
            AeadEngine.OpenSsl when !openSsl => throw new PlatformNotSupportedException($"OpenSSL 3's EVP {algorithm} is not available"),
            _ => engine,
        };
        switch (Engine)
        {
            case AeadEngine.IpsecMb:
                _mb = IpsecMbKey.Create(key);
                break;
            case AeadEngine.OpenSsl:
                _evp = EvpContext.Create(cipher, key);
                break;
            default:
                if (algorithm == AeadAlgorithm.AesGcm)
                {
                    _aes = new System.Security.Cryptography.AesGcm(key, TagSize);
                }
                else
                {
                    _chacha = new System.Security.Cryptography.ChaCha20Poly1305(key);
                }
                break;
        }
    }

    public AeadAlgorithm Algorithm { get; }

    /// <summary>The code this instance runs (never <see cref="AeadEngine.Fastest"/>).</summary>
    public AeadEngine Engine { get; }

    /// <summary>OpenSSL 3's libcrypto could be loaded with every function this class needs.</summary>
    public static bool OpenSslAvailable => EvpApi.Available;

    /// <summary>intel-ipsec-mb could be loaded with an AES-GCM code path for this CPU.</summary>
    public static bool IpsecMbAvailable => IpsecMbApi.Available;

    /// <summary>What AES-GCM and ChaCha20-Poly1305 run on here, for the start-up log.</summary>
    public static string Describe() =>
        $"AES-GCM {(IpsecMbApi.Available ? "intel-ipsec-mb " + IpsecMbApi.Description : EvpApi.Available ? "OpenSSL EVP" : "framework")}"
        + $" ({(IpsecMbApi.Available ? "" : IpsecMbApi.Description + "; ")}ChaCha20-Poly1305 {(EvpApi.Available ? "OpenSSL EVP" : "framework")})";

    /// <summary>
    /// Encrypts <paramref name="plaintext"/> into <paramref name="ciphertext"/> (the same length; the same memory or
    /// not overlapping at all) and writes the 16-byte <paramref name="tag"/>.
    /// </summary>
    public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag,
        ReadOnlySpan<byte> associatedData = default)
    {
        if (_mb is not null)
        {
            CheckArguments(nonce, plaintext, ciphertext, tag);
            _mb.Run(encrypt: true, nonce, plaintext, ciphertext, tag, associatedData);
            return;
        }
        if (_evp is not null)
        {
            CheckArguments(nonce, plaintext, ciphertext, tag);
            _evp.Run(encrypt: true, nonce, plaintext, ciphertext, tag, associatedData);
            return;
        }
        if (_aes is not null)
        {
            _aes.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
        }
        else
        {
            _chacha!.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
        }
    }

    /// <summary>
    /// Decrypts <paramref name="ciphertext"/> into <paramref name="plaintext"/> when <paramref name="tag"/> verifies;
    /// otherwise clears <paramref name="plaintext"/> and throws <see cref="AuthenticationTagMismatchException"/>.
    /// </summary>
    public void Decrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext,
        ReadOnlySpan<byte> associatedData = default)
    {
        bool verified;
        if (_mb is not null)
        {
            CheckArguments(nonce, ciphertext, plaintext, tag);
            Span<byte> computed = stackalloc byte[TagSize];
            _mb.Run(encrypt: false, nonce, ciphertext, plaintext, computed, associatedData);
            verified = CryptographicOperations.FixedTimeEquals(computed, tag);
        }
        else if (_evp is not null)
        {
            CheckArguments(nonce, ciphertext, plaintext, tag);
            verified = _evp.Run(encrypt: false, nonce, ciphertext, plaintext, MemoryMarshal.CreateSpan(ref MemoryMarshal.GetReference(tag), tag.Length), associatedData);
        }
        else
        {
            if (_aes is not null)
            {
                _aes.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
            }
            else
            {
                _chacha!.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
            }
            return;
        }
        if (!verified)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new AuthenticationTagMismatchException();
        }
    }

    private static void CheckArguments(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> input, ReadOnlySpan<byte> output, ReadOnlySpan<byte> tag)
    {
        if (nonce.Length != NonceSize)
        {
            throw new ArgumentException($"the nonce must be {NonceSize} bytes", nameof(nonce));
        }
        if (tag.Length != TagSize)
        {
            throw new ArgumentException($"the tag must be {TagSize} bytes", nameof(tag));
        }
        if (input.Length != output.Length)
        {
            throw new ArgumentException("input and output must have the same length");
        }
        // Both native engines work in place or between separate buffers, never between buffers that overlap otherwise.
        if (input.Overlaps(output, out var offset) && offset != 0)
        {
            throw new CryptographicException("input and output overlap without being the same memory");
        }
    }

    public void Dispose()
    {
        _mb?.Dispose();
        _evp?.Dispose();
        _aes?.Dispose();
        _chacha?.Dispose();
    }

    /// <summary>An <c>EVP_CIPHER_CTX</c> with its key set (freed when the last call using it returns).</summary>
    private sealed class EvpContext : SafeHandle
    {
        private EvpContext() : base(0, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == 0;

        public static unsafe EvpContext Create(nint cipher, ReadOnlySpan<byte> key)
        {
            var context = new EvpContext();
            context.SetHandle(EvpApi.CtxNew());
            if (context.IsInvalid)
            {
                throw EvpApi.Failure("EVP_CIPHER_CTX_new");
            }
            fixed (byte* k = key)
            {
                // Key and cipher once: the AES key schedule (or ChaCha's key) stays in the context.
                if (EvpApi.CipherInit(context.handle, cipher, k, null, 1, 0) != 1)
                {
                    context.Dispose();
                    throw EvpApi.Failure("EVP_CipherInit_ex2");
                }
            }
            return context;
        }

        /// <summary>One AEAD operation; false when a decryption's tag did not verify.</summary>
        public unsafe bool Run(bool encrypt, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> input, Span<byte> output, Span<byte> tag,
            ReadOnlySpan<byte> associatedData)
        {
            var added = false;
            DangerousAddRef(ref added);
            try
            {
                var ctx = handle;
                int n;
                fixed (byte* iv = nonce)
                fixed (byte* aad = associatedData)
                fixed (byte* inp = input)
                fixed (byte* outp = output)
                fixed (byte* t = tag)
                {
                    // RFC 5116 §2.1: the nonce per operation; the key schedule from Create stays.
                    if (EvpApi.CipherInit(ctx, 0, null, iv, encrypt ? 1 : 0, 0) != 1)
                    {
                        throw EvpApi.Failure("EVP_CipherInit_ex2");
                    }
                    if (!encrypt && EvpApi.CtxCtrl(ctx, EvpApi.CtrlAeadSetTag, TagSize, t) != 1)
                    {
                        throw EvpApi.Failure("EVP_CTRL_AEAD_SET_TAG");
                    }
                    if (!associatedData.IsEmpty && EvpApi.CipherUpdate(ctx, null, &n, aad, associatedData.Length) != 1)
                    {
                        throw EvpApi.Failure("EVP_CipherUpdate (AAD)");
                    }
                    var written = 0;
                    if (!input.IsEmpty)
                    {
                        if (EvpApi.CipherUpdate(ctx, outp, &n, inp, input.Length) != 1)
                        {
                            throw EvpApi.Failure("EVP_CipherUpdate");
                        }
                        written = n;
                    }
                    // GCM and ChaCha20-Poly1305 are stream modes: Update wrote everything, Final writes nothing.
                    var final = EvpApi.CipherFinal(ctx, outp + written, &n);
                    if (!encrypt)
                    {
                        if (final != 1)
                        {
                            EvpApi.ClearErrors();
                            return false;
                        }
                        return true;
                    }
                    if (final != 1)
                    {
                        throw EvpApi.Failure("EVP_CipherFinal_ex");
                    }
                    if (EvpApi.CtxCtrl(ctx, EvpApi.CtrlAeadGetTag, TagSize, t) != 1)
                    {
                        throw EvpApi.Failure("EVP_CTRL_AEAD_GET_TAG");
                    }
                    return true;
                }
            }
            finally
            {
                if (added)
                {
                    DangerousRelease();
                }
            }
        }

        protected override bool ReleaseHandle()
        {
            EvpApi.CtxFree(handle);
            return true;
        }
    }

    /// <summary>
    /// The seven libcrypto functions, bound once through function pointers (no marshalling, works under NativeAOT),
    /// and the three ciphers fetched once for the process (OpenSSL 3: <c>EVP_CIPHER_fetch</c> keeps lookups off the
    /// per-record path).
    /// </summary>
    private static unsafe class EvpApi
    {
        public const int CtrlAeadGetTag = 0x10;
        public const int CtrlAeadSetTag = 0x11;

        public static readonly bool Available;
        public static readonly nint Aes128Gcm;
        public static readonly nint Aes256Gcm;
        public static readonly nint ChaCha20Poly1305;

        private static readonly delegate* unmanaged<nint> s_ctxNew;
        private static readonly delegate* unmanaged<nint, void> s_ctxFree;
        private static readonly delegate* unmanaged<nint, nint, byte*, byte*, int, nint, int> s_cipherInit;
        private static readonly delegate* unmanaged<nint, byte*, int*, byte*, int, int> s_cipherUpdate;
        private static readonly delegate* unmanaged<nint, byte*, int*, int> s_cipherFinal;
        private static readonly delegate* unmanaged<nint, int, int, void*, int> s_ctxCtrl;
        private static readonly delegate* unmanaged<void> s_errClear;

        static EvpApi()
        {
            if (!OperatingSystem.IsLinux() || !NativeLibrary.TryLoad("libcrypto.so.3", out var lib))
            {
                return;
            }
            if (!NativeLibrary.TryGetExport(lib, "EVP_CIPHER_fetch", out var fetch)
                || !NativeLibrary.TryGetExport(lib, "EVP_CIPHER_CTX_new", out var ctxNew)
                || !NativeLibrary.TryGetExport(lib, "EVP_CIPHER_CTX_free", out var ctxFree)
                || !NativeLibrary.TryGetExport(lib, "EVP_CipherInit_ex2", out var cipherInit)
                || !NativeLibrary.TryGetExport(lib, "EVP_CipherUpdate", out var cipherUpdate)
                || !NativeLibrary.TryGetExport(lib, "EVP_CipherFinal_ex", out var cipherFinal)
                || !NativeLibrary.TryGetExport(lib, "EVP_CIPHER_CTX_ctrl", out var ctxCtrl)
                || !NativeLibrary.TryGetExport(lib, "ERR_clear_error", out var errClear))
            {
                return;
            }
            s_ctxNew = (delegate* unmanaged<nint>)ctxNew;
            s_ctxFree = (delegate* unmanaged<nint, void>)ctxFree;
            s_cipherInit = (delegate* unmanaged<nint, nint, byte*, byte*, int, nint, int>)cipherInit;
            s_cipherUpdate = (delegate* unmanaged<nint, byte*, int*, byte*, int, int>)cipherUpdate;
            s_cipherFinal = (delegate* unmanaged<nint, byte*, int*, int>)cipherFinal;
            s_ctxCtrl = (delegate* unmanaged<nint, int, int, void*, int>)ctxCtrl;
            s_errClear = (delegate* unmanaged<void>)errClear;
            var fetchCipher = (delegate* unmanaged<nint, byte*, byte*, nint>)fetch;
            Aes128Gcm = Fetch(fetchCipher, "AES-128-GCM"u8);
            Aes256Gcm = Fetch(fetchCipher, "AES-256-GCM"u8);
            ChaCha20Poly1305 = Fetch(fetchCipher, "ChaCha20-Poly1305"u8);
            s_errClear();
            // A libcrypto without AES-GCM (a FIPS-only provider set) makes AES fall back to the framework's class.
            Available = Aes128Gcm != 0 || Aes256Gcm != 0 || ChaCha20Poly1305 != 0;
        }

        private static nint Fetch(delegate* unmanaged<nint, byte*, byte*, nint> fetch, ReadOnlySpan<byte> name)
        {
            Span<byte> z = stackalloc byte[name.Length + 1];
            name.CopyTo(z);
            z[^1] = 0;
            fixed (byte* p = z)
            {
                return fetch(0, p, null);
            }
        }

        public static nint CtxNew() => s_ctxNew();

        public static void CtxFree(nint ctx) => s_ctxFree(ctx);

        public static int CipherInit(nint ctx, nint cipher, byte* key, byte* iv, int enc, nint parameters) =>
            s_cipherInit(ctx, cipher, key, iv, enc, parameters);

        public static int CipherUpdate(nint ctx, byte* output, int* written, byte* input, int length) =>
            s_cipherUpdate(ctx, output, written, input, length);

        public static int CipherFinal(nint ctx, byte* output, int* written) => s_cipherFinal(ctx, output, written);

        public static int CtxCtrl(nint ctx, int type, int arg, void* ptr) => s_ctxCtrl(ctx, type, arg, ptr);

        public static void ClearErrors() => s_errClear();

        /// <summary>What failed, with OpenSSL's error queue cleared (it is per thread and would mislead the next caller).</summary>
        public static CryptographicException Failure(string call)
        {
            s_errClear();
            return new CryptographicException($"OpenSSL {call} failed");
        }
    }
}
