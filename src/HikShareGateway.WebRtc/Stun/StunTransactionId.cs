using System.Buffers.Binary;
using System.Security.Cryptography;

namespace HikShareGateway.WebRtc.Stun;

/// <summary>
/// A 96-bit STUN transaction id as a value (RFC 8489 §6): the key by which the mux tells the responses to our own
/// requests (ICE checks, consent, server-reflexive and TURN requests) apart. Equality and hashing copy nothing.
/// </summary>
public readonly record struct StunTransactionId(ulong High, uint Low)
{
    /// <summary>A fresh id from the cryptographic generator (RFC 8489 §6: uniformly random).</summary>
    public static StunTransactionId New()
    {
        Span<byte> b = stackalloc byte[12];
        RandomNumberGenerator.Fill(b);
        return From(b);
    }

    public static StunTransactionId From(ReadOnlySpan<byte> id)
        => new(BinaryPrimitives.ReadUInt64BigEndian(id), BinaryPrimitives.ReadUInt32BigEndian(id[8..]));

    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, High);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Low);
    }
}
