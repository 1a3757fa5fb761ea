using System.Net;
using System.Net.Sockets;
using HikShareGateway.Rtsp.Transport;

namespace HikShareGateway.Tests.Rtsp.Transport;

/// <summary>
/// The socket stream under RTSPS's SslStream: while held, writes (one per TLS record) stay in user space and leave in
/// one send, in order; otherwise it is a plain socket stream.
/// </summary>
[Trait("Category", "Unit")]
public sealed class CoalescingNetworkStreamTests
{
    private static async Task<(Socket Server, Socket Client)> PairAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        return (await listener.AcceptAsync(), client);
    }

    private static async Task<byte[]> ReceiveAsync(Socket socket, int count)
    {
        var data = new byte[count];
        for (var got = 0; got < count;)
        {
            var n = await socket.ReceiveAsync(data.AsMemory(got));
            Assert.True(n > 0, "connection closed early");
            got += n;
        }
        return data;
    }

    [Fact]
    public async Task Held_WritesSendNothingUntilSendHeld_ThenArriveWholeAndInOrder()
    {
        var (server, client) = await PairAsync();
        using (server)
        using (client)
        await using (var stream = new CoalescingNetworkStream(server))
        {
            var records = Enumerable.Range(0, 5).Select(i => Enumerable.Repeat((byte)('a' + i), 16_406).ToArray()).ToArray();

            // A small expected size, so the held buffer must also grow on the way.
            stream.Hold(1000);
            foreach (var r in records)
            {
                var write = stream.WriteAsync(r.AsMemory());
                Assert.True(write.IsCompletedSuccessfully, "a held write completes at once");
                await write;
            }
            // Nothing was sent: on loopback a send is in the peer's receive queue when send(2) returns.
            Assert.Equal(0, client.Available);

            await stream.SendHeldAsync();
            var received = await ReceiveAsync(client, records.Sum(r => r.Length));
            Assert.Equal(records.SelectMany(r => r).ToArray(), received);
        }
    }

    [Fact]
    public async Task NotHeld_WritesGoStraightToTheSocket_AndDiscardDropsAHeldBatch()
    {
        var (server, client) = await PairAsync();
        using (server)
        using (client)
        await using (var stream = new CoalescingNetworkStream(server))
        {
            stream.Hold(100);
            await stream.WriteAsync(new byte[] { 9, 9, 9 });
            stream.Discard();

            await stream.WriteAsync(new byte[] { 1, 2, 3 });
            Assert.Equal(new byte[] { 1, 2, 3 }, await ReceiveAsync(client, 3));
            // Sending after a discard sends nothing more.
            await stream.SendHeldAsync();
            await stream.WriteAsync(new byte[] { 4 });
            Assert.Equal(new byte[] { 4 }, await ReceiveAsync(client, 1));
        }
    }
}
