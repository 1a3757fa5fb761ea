using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HikShareGateway.Rtsp.Transport;

/// <summary>
/// A non-blocking <c>sendmsg(2)</c> of many shared buffers at once, straight on the socket's descriptor (Linux).
/// The runtime's own gather send builds its iovecs on the stack for at most 8 buffers and allocates beyond, so a
/// batch of a frame's packets would cost either several syscalls or two arrays per send; here one syscall takes up
/// to <see cref="MaxSegments"/> packets without allocating. The buffers must be pinned (relayed packets live in
/// pinned arrays). Whatever the kernel does not take is left to the runtime's asynchronous send, which waits for
/// the socket to drain.
/// </summary>
internal static unsafe partial class GatherSend
{
    public const int MaxSegments = 64;
    private const int MsgDontWait = 0x40;
    private const int MsgNoSignal = 0x4000;
    private const int EAgain = 11;
    private const int EIntr = 4;

    public static bool IsSupported { get; } = OperatingSystem.IsLinux() && (RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64);

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsg(nint fd, MsgHdr* message, int flags);

    /// <summary>
    /// Sends as much of <paramref name="segments"/> (all in pinned arrays) as the socket takes now. Returns the
    /// bytes sent (0 when the socket is full); throws <see cref="SocketException"/> when the connection failed.
    /// </summary>
    public static long TrySend(Socket socket, List<ArraySegment<byte>> segments)
    {
        var count = Math.Min(segments.Count, MaxSegments);
        var iov = stackalloc IoVec[count];
        for (var i = 0; i < count; i++)
        {
            var s = segments[i];
            // Pinned (POH) arrays: the address is stable without a handle.
            iov[i].Base = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(s.Array!)) + s.Offset;
            iov[i].Length = (nuint)s.Count;
        }
        return Send(socket, iov, count);
    }

    /// <summary>
    /// Sends as much of one buffer (any memory: it is pinned for the call) as the socket takes now; returns the bytes
    /// sent (0 when the socket is full). RTSPS: a batch's TLS records, gathered in a pooled buffer.
    /// </summary>
    public static long TrySend(Socket socket, ReadOnlySpan<byte> buffer)
    {
        fixed (byte* data = buffer)
        {
            var iov = new IoVec { Base = data, Length = (nuint)buffer.Length };
            return Send(socket, &iov, 1);
        }
    }

    private static long Send(Socket socket, IoVec* iov, int count)
    {
        var message = new MsgHdr { Iov = iov, IovLength = (nuint)count };
        var handle = socket.SafeHandle;
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            while (true)
            {
                var sent = SendMsg(handle.DangerousGetHandle(), &message, MsgDontWait | MsgNoSignal);
                if (sent >= 0)
                {
                    return sent;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EAgain)
                {
                    return 0;
                }
                if (errno != EIntr)
                {
                    throw new SocketException(errno == 32 ? (int)SocketError.ConnectionReset : (int)SocketError.SocketError);
                }
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>Drops the first <paramref name="sent"/> bytes from <paramref name="segments"/> (a partial send).</summary>
    public static void Advance(List<ArraySegment<byte>> segments, long sent)
    {
        var drop = 0;
        while (drop < segments.Count && sent >= segments[drop].Count)
        {
            sent -= segments[drop].Count;
            drop++;
        }
        segments.RemoveRange(0, drop);
        if (sent > 0 && segments.Count > 0)
        {
            segments[0] = segments[0].Slice((int)sent);
        }
    }
}
