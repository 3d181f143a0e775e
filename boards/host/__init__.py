"""The host side of the board link, in pure Python (no Amaranth): the frames a host sends and
the replies it parses (:mod:`.messages`), the client over a serial port (:mod:`.client`), and
``deploy`` (:mod:`.deploy`)."""
