using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Connections;

namespace HikShareGateway.Http;

/// <summary>
/// Caps the connections of a Kestrel listener: all clients together, and per remote address, so that one client (5000
/// idle keep-alive connections, a thousand SSE streams) cannot take the port and the file descriptors from the others.
/// A connection past either cap is closed at once, before any HTTP is read; the others are untouched.
/// </summary>
/// <remarks>Thread-safe; counts live connections only (each releases its slot when it ends).</remarks>
public sealed class ConnectionLimiter(int maxConnections, int maxPerAddress)
{
    private readonly ConcurrentDictionary<IPAddress, int> _perAddress = new();
    private int _total;

    public int Total => Volatile.Read(ref _total);
    public long Refused => Interlocked.Read(ref _refused);
    private long _refused;

    public ConnectionDelegate Middleware(ConnectionDelegate next) => async context =>
    {
        var address = (context.RemoteEndPoint as IPEndPoint)?.Address is { } a ? (a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a) : IPAddress.None;
        if (!TryEnter(address))
        {
            Interlocked.Increment(ref _refused);
            context.Abort(new ConnectionAbortedException("connection limit reached"));
            return;
        }
        try
        {
            await next(context).ConfigureAwait(false);
        }
        finally
        {
            Leave(address);
        }
    };

    internal bool TryEnter(IPAddress address)
    {
        if (Interlocked.Increment(ref _total) > maxConnections)
        {
            Interlocked.Decrement(ref _total);
            return false;
        }
        var count = _perAddress.AddOrUpdate(address, 1, (_, n) => n + 1);
        if (count > maxPerAddress)
        {
            Leave(address);
            return false;
        }
        return true;
    }

    internal void Leave(IPAddress address)
    {
        Interlocked.Decrement(ref _total);
        // Remove the entry when it drops to zero so a spray of addresses does not grow the map.
        while (_perAddress.TryGetValue(address, out var n))
        {
            if (n <= 1 ? _perAddress.TryRemove(KeyValuePair.Create(address, n)) : _perAddress.TryUpdate(address, n - 1, n))
            {
                return;
            }
        }
    }
}
