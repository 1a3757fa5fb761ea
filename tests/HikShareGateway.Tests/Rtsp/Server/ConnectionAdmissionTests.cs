using System.Net;
using HikShareGateway.Rtsp.Server;

namespace HikShareGateway.Tests.Rtsp.Server;

/// <summary>The two pools of the viewer server, without sockets: what is admitted, refused, moved and given back.</summary>
[Trait("Category", "Unit")]
public sealed class ConnectionAdmissionTests
{
    private static readonly IPAddress A = IPAddress.Parse("192.0.2.1");
    private static readonly IPAddress B = IPAddress.Parse("192.0.2.2");

    private static ConnectionAdmission Admission(int authenticated = 2, int unauthenticated = 4, int perAddress = 2)
        => new(new ConnectionLimits(authenticated, unauthenticated, perAddress, TimeSpan.FromSeconds(5)));

    [Fact]
    public void PerAddressCap_RefusesTheThirdFromOneAddress_AnotherAddressStillAdmitted()
    {
        var admission = Admission();
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(A, out _));
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(A, out _));
        Assert.Equal(AdmissionOutcome.PerAddressCap, admission.TryAdmit(A, out var refused));
        Assert.Null(refused);
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(B, out _));
        Assert.Equal(3, admission.Unauthenticated);
    }

    [Fact]
    public void UnderPressure_FromHalfThePoolOrHalfAnAddressShare_AndGoneWhenTheyLeave()
    {
        var admission = Admission(unauthenticated: 8, perAddress: 4);
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(A, out var a1));
        Assert.False(admission.UnderPressure(A));
        Assert.False(admission.UnderPressure(B));
        // Half of A's share: A is under pressure, B (and the pool) are not.
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(A, out var a2));
        Assert.True(admission.UnderPressure(A));
        Assert.True(a1!.UnderPressure);
        Assert.False(admission.UnderPressure(B));
        // Half of the pool: everyone is.
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(B, out var b1));
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(IPAddress.Parse("192.0.2.3"), out var c1));
        Assert.True(admission.UnderPressure(B));
        Assert.True(b1!.UnderPressure);
        c1!.Dispose();
        a2!.Dispose();
        Assert.False(admission.UnderPressure(A));
        Assert.False(admission.UnderPressure(B));
    }

    [Fact]
    public void Ipv4MappedAddress_CountsAsTheIpv4Address()
    {
        var admission = Admission(perAddress: 1);
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(A, out _));
        Assert.Equal(AdmissionOutcome.PerAddressCap, admission.TryAdmit(A.MapToIPv6(), out _));
    }

    [Fact]
    public void UnauthenticatedPoolFull_Refuses_ButAuthenticatingFreesASlotForTheNext()
    {
        var admission = Admission(unauthenticated: 2, perAddress: 10);
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(A, out var first));
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(B, out _));
        Assert.Equal(AdmissionOutcome.UnauthenticatedPoolFull, admission.TryAdmit(A, out _));

        Assert.True(first!.TryAuthenticate());
        Assert.True(first.IsAuthenticated);
        Assert.Equal((1, 1), (admission.Authenticated, admission.Unauthenticated));
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(A, out _));
    }

    [Fact]
    public void UnauthenticatedConnections_NeverTakeAuthenticatedSlots()
    {
        var admission = Admission(authenticated: 1, unauthenticated: 3, perAddress: 3);
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(A, out var viewer));
        Assert.True(viewer!.TryAuthenticate());
        // The unauthenticated pool is full of a flood, yet authenticated is unaffected and the other way round.
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(B, out _));
        }
        Assert.Equal((1, 3), (admission.Authenticated, admission.Unauthenticated));
    }

    [Fact]
    public void AuthenticatedPoolFull_TryAuthenticateFalse_TheConnectionKeepsItsUnauthenticatedSlot()
    {
        var admission = Admission(authenticated: 1);
        admission.TryAdmit(A, out var first);
        admission.TryAdmit(B, out var second);
        Assert.True(first!.TryAuthenticate());
        Assert.False(second!.TryAuthenticate());
        Assert.False(second.IsAuthenticated);
        Assert.Equal((1, 1), (admission.Authenticated, admission.Unauthenticated));
        Assert.Equal(1, admission.TakeCounts().AuthenticatedPoolFull);
    }

    [Fact]
    public void Dispose_GivesTheSlotBackOnce_FromEitherPool()
    {
        var admission = Admission(perAddress: 1);
        admission.TryAdmit(A, out var unauthenticated);
        admission.TryAdmit(B, out var authenticated);
        authenticated!.TryAuthenticate();
        unauthenticated!.Dispose();
        unauthenticated.Dispose();
        authenticated.Dispose();
        authenticated.Dispose();
        Assert.Equal((0, 0), (admission.Authenticated, admission.Unauthenticated));
        // The per-address count went back to zero too.
        Assert.Equal(AdmissionOutcome.Admitted, admission.TryAdmit(A, out _));
        Assert.False(authenticated.TryAuthenticate());
    }

    [Fact]
    public void TakeCounts_AggregatesRefusalsAndCloses_NamesTheTopAddress_ThenStartsAgainFromZero()
    {
        var admission = Admission(unauthenticated: 3, perAddress: 1);
        admission.TryAdmit(A, out _);
        for (var i = 0; i < 5; i++)
        {
            admission.TryAdmit(A, out _);
        }
        admission.TryAdmit(B, out _);
        admission.TryAdmit(IPAddress.Parse("192.0.2.3"), out _);
        admission.TryAdmit(IPAddress.Parse("192.0.2.4"), out _); // pool full
        admission.CountHandshakeTimeout();
        admission.CountHandshakeTimeout();
        admission.CountIdleClose();

        var c = admission.TakeCounts();
        Assert.Equal((5, 1, 0, 6), (c.PerAddressCap, c.UnauthenticatedPoolFull, c.AuthenticatedPoolFull, c.Refused));
        Assert.Equal((2, 1), (c.HandshakeTimeouts, c.IdleCloses));
        Assert.Equal((A, 5), (c.TopRefusedAddress, c.TopRefusedCount));
        Assert.True(admission.TakeCounts().IsEmpty);
    }

    [Fact]
    public void ConcurrentAdmitsAndReleases_CountsReturnToZero()
    {
        var admission = Admission(authenticated: 1000, unauthenticated: 1000, perAddress: 1000);
        Parallel.For(0, 10_000, i =>
        {
            if (admission.TryAdmit(i % 2 == 0 ? A : B, out var ticket) == AdmissionOutcome.Admitted)
            {
                if (i % 3 == 0)
                {
                    ticket!.TryAuthenticate();
                }
                ticket!.Dispose();
            }
        });
        Assert.Equal((0, 0), (admission.Authenticated, admission.Unauthenticated));
    }
}
