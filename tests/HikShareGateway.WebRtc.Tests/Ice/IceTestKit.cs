using System.Net;
using HikShareGateway.WebRtc.Stun;

namespace HikShareGateway.WebRtc.Tests.Ice;

internal static class IceTestKit
{
    /// <summary>A browser's connectivity check: USERNAME ours:theirs, PRIORITY, ICE-CONTROLLING, optional USE-CANDIDATE.</summary>
    public static byte[] Check(string username, string password, bool useCandidate, byte[]? transactionId = null, ushort extraAttribute = 0)
    {
        var buffer = new byte[256];
        transactionId ??= Guid.NewGuid().ToByteArray()[..12];
        var w = new StunWriter(buffer, StunMethod.Binding, StunClass.Request, transactionId);
        w.AddString(StunAttribute.Username, username);
        w.AddUInt32(StunAttribute.Priority, 1853824767);
        w.AddUInt64(StunAttribute.IceControlling, 0x1122334455667788);
        if (useCandidate) w.AddFlag(StunAttribute.UseCandidate);
        if (extraAttribute != 0) w.AddUInt32(extraAttribute, 7);
        w.AddMessageIntegrity(System.Text.Encoding.UTF8.GetBytes(password));
        w.AddFingerprint();
        return w.Written.ToArray();
    }

    public static IPEndPoint Browser => IPEndPoint.Parse("192.0.2.50:54321");
}
